/**
 * Batch normalisation whose training step is cheap on wasm. tfjs-layers' BatchNormalization
 * trains through tf.moments and the FusedBatchNorm kernel, whose gradient tiles 1/σ to the
 * full input shape (tfjs-core's FusedBatchNorm_grad) and differentiates the moments op by op:
 * on wasm the Tile alone was a quarter of the reference classifier's training step
 * (`npm run profile:train`). Here the training forward is one custom-gradient
 * op with the textbook backward (Ioffe & Szegedy 2015, over N = batch·height·width):
 *   x̂ = (x − μ)/σ,  y = γ x̂ + β,
 *   ∂β = Σ dy,  ∂γ = Σ dy·x̂,  ∂x = γ/σ · (dy − ∂β/N − x̂·∂γ/N),
 * which already accounts for μ and σ depending on x. The moving statistics update as in
 * tfjs-layers (biased variance, `moving = moving − (moving − batch)(1 − momentum)`).
 *
 * Inference is the parent class's, and the class name stays `BatchNormalization`: a model
 * trained with this layer saves and loads as a standard TF.js Layers model.
 */
import { tf } from '@overmap/engine';

type BatchNormArgs = Parameters<typeof tf.layers.batchNormalization>[0];
type BatchNormLayer = ReturnType<typeof tf.layers.batchNormalization>;
// tfjs-layers does not export the class; its factory's instances carry it.
const BatchNormalization = Object.getPrototypeOf(tf.layers.batchNormalization({})).constructor as new (
  args?: BatchNormArgs,
) => BatchNormLayer;

interface BatchNormInternals {
  axis: number;
  epsilon: number;
  momentum: number;
  center: boolean;
  scale: boolean;
  gamma: tf.LayerVariable;
  beta: tf.LayerVariable;
  movingMean: tf.LayerVariable;
  movingVariance: tf.LayerVariable;
}

/** Normalises over every axis but the last; returns y and the batch statistics (kept: the caller disposes them). */
export function batchNormTraining(
  x: tf.Tensor,
  gamma: tf.Tensor,
  beta: tf.Tensor,
  epsilon: number,
): { y: tf.Tensor; mean: tf.Tensor; variance: tf.Tensor } {
  const axes = x.shape.slice(0, -1).map((_, i) => i);
  let mean: tf.Tensor | undefined, variance: tf.Tensor | undefined;
  // tfjs types customGrad's variadic (inputs..., save) signature loosely: the cast names it.
  const forward = (xi: tf.Tensor, g: tf.Tensor, b: tf.Tensor, save: tf.GradSaveFunc) => {
    const m = tf.moments(xi, axes);
    mean = tf.keep(m.mean);
    variance = tf.keep(m.variance);
    const invStd = tf.rsqrt(tf.add(m.variance, epsilon));
    const xhat = tf.mul(tf.sub(xi, m.mean), invStd);
    save([xhat, invStd, g]);
    return {
      value: tf.add(tf.mul(xhat, g), b),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sx, sInvStd, sg] = saved as [tf.Tensor, tf.Tensor, tf.Tensor];
        const n = dy.size / dy.shape[dy.shape.length - 1]!;
        const dBeta = tf.sum(dy, axes);
        const dGamma = tf.sum(tf.mul(dy, sx), axes);
        const centred = tf.sub(tf.sub(dy, tf.div(dBeta, n)), tf.mul(sx, tf.div(dGamma, n)));
        return [tf.mul(centred, tf.mul(sg, sInvStd)), dGamma, dBeta];
      },
    };
  };
  const op = tf.customGrad(forward as unknown as Parameters<typeof tf.customGrad>[0]);
  const y = op(x, gamma, beta);
  return { y, mean: mean!, variance: variance! };
}

export class TrainingBatchNorm extends BatchNormalization {
  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>): tf.Tensor | tf.Tensor[] {
    const self = this as unknown as BatchNormInternals;
    const x = Array.isArray(inputs) ? inputs[0]! : inputs;
    const lastAxis = self.axis === -1 || self.axis === x.rank - 1;
    if (!kwargs['training'] || !lastAxis || !self.center || !self.scale) return super.call(inputs, kwargs);
    return tf.tidy(() => {
      const { y, mean, variance } = batchNormTraining(x, self.gamma.read(), self.beta.read(), self.epsilon);
      for (const [v, batch] of [
        [self.movingMean, mean],
        [self.movingVariance, variance],
      ] as const) {
        tf.tidy(() => {
          const old = v.read();
          v.write(tf.sub(old, tf.mul(tf.sub(old, batch), 1 - self.momentum)));
        });
      }
      mean.dispose();
      variance.dispose();
      return y;
    });
  }
}
