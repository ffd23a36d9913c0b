"""Scenes read from the generator's layout; ONNX export run by ONNX Runtime in Node gives the
logits, features and attention PyTorch gives (1e-4)."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import unittest
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from overmap_train.data import CLASS_FOLDERS, load_scenes
from overmap_train.export import export_classifier, export_segmenter
from overmap_train.models import CbamResNet, UNet
from overmap_train.train import seed_everything

ROOT = Path(__file__).resolve().parents[2]

# Runs the exported graph in ONNX Runtime for Node (the worker's runtime) and prints its outputs.
ORT_SCRIPT = """
const ort = require('onnxruntime-node');
const [file, input] = process.argv.slice(1);
const x = JSON.parse(require('fs').readFileSync(input, 'utf8'));
(async () => {
  const s = await ort.InferenceSession.create(file);
  const out = await s.run({ image: new ort.Tensor('float32', Float32Array.from(x.data), x.shape) });
  const res = {};
  for (const k of s.outputNames) res[k] = { dims: out[k].dims, data: Array.from(out[k].data) };
  process.stdout.write(JSON.stringify(res));
})().catch((e) => { console.error(e); process.exit(1); });
"""


def run_ort(onnx: Path, x: torch.Tensor, tmp: Path) -> dict:
    inp = tmp / "input.json"
    inp.write_text(json.dumps({"shape": list(x.shape), "data": x.flatten().tolist()}))
    r = subprocess.run(["node", "-e", ORT_SCRIPT, str(onnx), str(inp)], cwd=ROOT, capture_output=True, text=True, check=True)
    return json.loads(r.stdout)


@unittest.skipIf(shutil.which("node") is None, "node is not on the PATH")
class ExportTest(unittest.TestCase):
    def test_classifier_in_onnx_runtime_matches_pytorch(self) -> None:
        seed_everything(2, 1)
        model = CbamResNet(widths=(8, 16, 16, 32)).eval()
        # Non-trivial batch-norm statistics, so that folding them into the export is checked too.
        for mod in model.modules():
            if isinstance(mod, torch.nn.BatchNorm2d):
                mod.running_mean.uniform_(-0.2, 0.2)
                mod.running_var.uniform_(0.5, 2.0)
        x = torch.rand(2, 3, 64, 64)
        with tempfile.TemporaryDirectory() as d:
            onnx = Path(d) / "classifier.onnx"
            export_classifier(model, onnx)
            got = run_ort(onnx, x, Path(d))
        with torch.no_grad():
            expected = dict(zip(["logits", "features", "spatial_attention"], model(x)))
        self.assertEqual(sorted(got), sorted(expected))
        for name, t in expected.items():
            self.assertEqual(got[name]["dims"], list(t.shape), name)
            diff = np.abs(np.array(got[name]["data"], dtype=np.float32) - t.flatten().numpy()).max()
            self.assertLess(float(diff), 1e-4, name)

    def test_segmenter_in_onnx_runtime_matches_pytorch(self) -> None:
        seed_everything(3, 1)
        model = UNet(widths=(4, 8, 8, 16)).eval()
        x = torch.rand(1, 3, 64, 64)
        with tempfile.TemporaryDirectory() as d:
            onnx = Path(d) / "segmenter.onnx"
            export_segmenter(model, onnx)
            got = run_ort(onnx, x, Path(d))
        with torch.no_grad():
            expected = torch.sigmoid(model(x))
        self.assertEqual(list(got), ["probability"])
        diff = np.abs(np.array(got["probability"]["data"], dtype=np.float32) - expected.flatten().numpy()).max()
        self.assertLess(float(diff), 1e-4)


class DataTest(unittest.TestCase):
    def test_reads_scenes_and_masks_in_index_order(self) -> None:
        with tempfile.TemporaryDirectory() as d:
            root = Path(d) / "varied-val"
            for i, c in [(2, 3), (0, 9), (1, 0)]:
                for base, arr in [(root, np.full((64, 64, 3), i * 40, np.uint8)), (Path(d) / "varied-val-masks", np.full((64, 64), 255 * (i % 2), np.uint8))]:
                    (base / CLASS_FOLDERS[c]).mkdir(parents=True, exist_ok=True)
                    Image.fromarray(arr).save(base / CLASS_FOLDERS[c] / f"varied-val-{i:05d}.png")
            s = load_scenes(root)
            self.assertEqual(s.labels.tolist(), [9, 0, 3])
            self.assertEqual(s.images.shape, (3, 64, 64, 3))
            self.assertEqual(s.images[:, 0, 0, 0].tolist(), [0, 40, 80])
            self.assertEqual(s.masks.reshape(3, -1).max(1).tolist(), [0, 1, 0])
            again = load_scenes(root)  # from the cache
            self.assertTrue(np.array_equal(again.images, s.images))

    def test_missing_masks_name_the_file_and_the_fix(self) -> None:
        with tempfile.TemporaryDirectory() as d:
            root = Path(d) / "val"
            (root / "bag").mkdir(parents=True)
            Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(root / "bag" / "val-00000.png")
            with self.assertRaisesRegex(FileNotFoundError, "val-masks/bag/val-00000.png: missing mask; write the scenes with --masks"):
                load_scenes(root, cache=False)


if __name__ == "__main__":
    unittest.main()
