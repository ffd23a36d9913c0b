// Reads a Parquet file with hyparquet (an independent reader) and prints its rows as JSON;
// with a second argument `schema`, prints the column elements instead (name, type,
// converted_type, repetition_type) and the number of row groups.
import { asyncBufferFromFile, parquetMetadataAsync, parquetReadObjects } from 'hyparquet';
const file = await asyncBufferFromFile(process.argv[2]);
const json = (v) => JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? Number(x) : x));
if (process.argv[3] === 'schema') {
  const meta = await parquetMetadataAsync(file);
  const columns = meta.schema
    .slice(1)
    .map(({ name, type, converted_type, repetition_type }) => ({ name, type, converted_type, repetition_type }));
  process.stdout.write(json({ columns, rowGroups: meta.row_groups.length, rows: meta.num_rows }));
} else {
  process.stdout.write(json(await parquetReadObjects({ file })));
}
