// Jest transform for the ES-module-only packages the code under test loads with require()
// (hyparquet-writer and its hyparquet): Node >= 20.19 does require(esm) itself, jest's
// module loader on Node 20 does not. TypeScript's transpiler rewrites import/export to CommonJS.
'use strict';
const ts = require('typescript');

module.exports = {
  process(src, file) {
    const out = ts.transpileModule(src, {
      fileName: file,
      compilerOptions: {
        module: ts.ModuleKind.CommonJS,
        target: ts.ScriptTarget.ES2022,
        allowJs: true,
        esModuleInterop: true,
        sourceMap: false,
      },
    });
    return { code: out.outputText };
  },
};
