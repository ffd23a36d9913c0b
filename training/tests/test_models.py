"""Shapes, the guided loss's zero, one step lowering the loss, determinism, augmentation that
keeps image and mask aligned."""

from __future__ import annotations

import unittest

import torch

from overmap_train.augment import AugmentSettings, augment
from overmap_train.losses import attention_mass, box_iou, box_loss, boxes_of_masks, guided_attention_loss, pooled_mask
from overmap_train.models import BoxRegressor, CbamResNet, DetectorExport, SegmenterExport, UNet
from overmap_train.train import lr_at, seed_everything

SMALL = (8, 16, 16, 32)


class ShapesTest(unittest.TestCase):
    def test_classifier_outputs_the_three_maps(self) -> None:
        seed_everything(1, 1)
        logits, features, attention = CbamResNet(widths=SMALL).eval()(torch.rand(3, 3, 64, 64))
        self.assertEqual(tuple(logits.shape), (3, 10))
        self.assertEqual(tuple(features.shape), (3, 32, 8, 8))
        self.assertEqual(tuple(attention.shape), (3, 1, 8, 8))
        self.assertTrue(bool(((attention > 0) & (attention < 1)).all()))

    def test_segmenter_outputs_one_probability_per_pixel(self) -> None:
        seed_everything(1, 1)
        p = SegmenterExport(UNet(widths=(4, 8, 8, 16))).eval()(torch.rand(2, 3, 64, 64))
        self.assertEqual(tuple(p.shape), (2, 1, 64, 64))
        self.assertTrue(bool(((p >= 0) & (p <= 1)).all()))


class GuidedLossTest(unittest.TestCase):
    def test_zero_when_attention_equals_the_pooled_mask(self) -> None:
        g = torch.Generator().manual_seed(3)
        mask = (torch.rand(4, 1, 64, 64, generator=g) > 0.7).float()
        attention = pooled_mask(mask, (8, 8))
        self.assertLess(float(guided_attention_loss(attention, mask)), 1e-5)
        self.assertGreater(float(guided_attention_loss(torch.full_like(attention, 0.5), mask)), 0.01)

    def test_attention_mass_is_one_when_attention_lies_only_on_the_object(self) -> None:
        mask = torch.zeros(1, 1, 64, 64)
        mask[..., :32, :32] = 1
        attention = torch.zeros(1, 1, 8, 8)
        attention[..., :4, :4] = 1
        self.assertAlmostEqual(float(attention_mass(attention, mask)), 1.0, places=6)
        self.assertAlmostEqual(float(attention_mass(torch.ones(1, 1, 8, 8), mask)), 0.25, places=6)


class TrainingStepTest(unittest.TestCase):
    def _step(self, model: CbamResNet, x: torch.Tensor, y: torch.Tensor, m: torch.Tensor) -> float:
        opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
        logits, _, att = model(x)
        loss = torch.nn.functional.cross_entropy(logits, y) + guided_attention_loss(att, m)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return float(loss)

    def test_one_step_lowers_the_loss_and_is_deterministic(self) -> None:
        seed_everything(5, 1)
        x, y, m = torch.rand(16, 3, 64, 64), torch.randint(0, 10, (16,)), (torch.rand(16, 1, 64, 64) > 0.5).float()
        seed_everything(7, 1)
        a = CbamResNet(widths=SMALL)
        before = self._step(a, x, y, m)
        with torch.no_grad():
            a.eval()
            logits, _, att = a(x)
            a.train()
        seed_everything(7, 1)
        b = CbamResNet(widths=SMALL)
        self._step(b, x, y, m)
        for pa, pb in zip(a.state_dict().values(), b.state_dict().values()):
            self.assertTrue(torch.equal(pa, pb))
        after = self._step(a, x, y, m)
        self.assertLess(after, before)

    def test_warm_up_then_cosine(self) -> None:
        self.assertAlmostEqual(lr_at(0, 100, 10, 0.1), 0.005)
        self.assertAlmostEqual(lr_at(10, 100, 10, 0.1), 0.1)
        self.assertAlmostEqual(lr_at(100, 100, 10, 0.1), 0.0)


class AugmentTest(unittest.TestCase):
    def test_image_and_mask_move_together(self) -> None:
        mask = torch.zeros(6, 1, 64, 64)
        mask[:, :, 20:44, 10:30] = 1
        image = mask.expand(6, 3, 64, 64).clone()
        g = torch.Generator().manual_seed(11)
        x, m = augment(image, mask, g, AugmentSettings(colour=False, noise=0.0))
        self.assertTrue(bool(((x[:, :1] > 0.5).float() == m).float().mean() > 0.99))
        self.assertFalse(torch.equal(m, mask))


if __name__ == "__main__":
    unittest.main()


class DetectorTest(unittest.TestCase):
    def test_boxes_of_masks_are_the_tight_pixel_boxes(self) -> None:
        m = torch.zeros(3, 8, 16)
        m[0, 2:5, 4:10] = 1  # rows 2-4, columns 4-9
        m[1, 0, 0] = 1
        boxes, valid = boxes_of_masks(m)
        self.assertEqual(valid.tolist(), [True, True, False])
        self.assertEqual(boxes[0].tolist(), [4 / 16, 2 / 8, 10 / 16, 5 / 8])
        self.assertEqual(boxes[1].tolist(), [0.0, 0.0, 1 / 16, 1 / 8])

    def test_box_iou_identities(self) -> None:
        a = torch.tensor([[0.0, 0.0, 0.5, 0.5], [0.0, 0.0, 1.0, 1.0]])
        b = torch.tensor([[0.0, 0.0, 0.5, 0.5], [0.5, 0.0, 1.0, 1.0]])
        self.assertEqual(box_iou(a, b).tolist(), [1.0, 0.5])

    def test_exports_one_box_and_score_per_image_and_one_step_lowers_the_loss(self) -> None:
        seed_everything(3, 1)
        net = BoxRegressor(widths=(4, 8, 8, 16))
        boxes, scores = DetectorExport(net).eval()(torch.rand(2, 3, 64, 64))
        self.assertEqual((tuple(boxes.shape), tuple(scores.shape)), ((2, 1, 4), (2, 1)))
        self.assertTrue(bool(((boxes >= 0) & (boxes <= 1)).all() and (boxes[..., 2] >= boxes[..., 0]).all()))
        x, m = torch.rand(8, 3, 64, 64), torch.zeros(8, 1, 64, 64)
        m[:, :, 10:30, 20:50] = 1
        net.train()
        opt = torch.optim.SGD(net.parameters(), lr=0.05)
        losses = []
        for _ in range(2):
            loss, _ = box_loss(*net(x), m)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(float(loss))
        self.assertLess(losses[1], losses[0])
