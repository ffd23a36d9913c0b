/**
 * The reference models: a small CBAM classifier and an encoder-decoder segmenter for
 * 64x64 RGB scenes. Layer names are what the model spec points to.
 */
import { tf } from '@overmap/engine';
import { ChannelPool } from '@overmap/engine';

export const REFERENCE_INPUT = 64;
export const GRADCAM_LAYER = 'gradcam_conv';
export const ATTENTION_LAYER = 'spatial_attention';
export const LOGITS_LAYER = 'logits';

const conv = (filters: number, kernel: number, name: string, activation: 'relu' | 'sigmoid' | 'linear' = 'relu') =>
  tf.layers.conv2d({ filters, kernelSize: kernel, padding: 'same', activation, name, kernelInitializer: 'heNormal' });

/** conv -> batch norm -> ReLU; batch norm is what gets training off the ground on the cluttered scenes. */
function convBn(x: tf.SymbolicTensor, filters: number, name: string): tf.SymbolicTensor {
  const c = tf.layers
    .conv2d({ filters, kernelSize: 3, padding: 'same', name, kernelInitializer: 'heNormal', useBias: false })
    .apply(x);
  // momentum 0.9 (the v1 model was trained with it; its file records it)
  const b = tf.layers.batchNormalization({ name: `${name}_bn`, momentum: 0.9 }).apply(c);
  return tf.layers.reLU({ name: `${name}_relu` }).apply(b) as tf.SymbolicTensor;
}

/**
 * CBAM block (Woo et al. 2018): channel attention Mc = σ(MLP(AvgPool F) + MLP(MaxPool F)),
 * F' = Mc ⊗ F; spatial attention Ms = σ(conv7x7([AvgPool_c F'; MaxPool_c F'])), F'' = Ms ⊗ F'.
 * Ms is the spatial attention mask Over-MAP compares with the segmentation.
 */
function cbam(f: tf.SymbolicTensor, channels: number, reduction: number): tf.SymbolicTensor {
  const mlp1 = tf.layers.dense({ units: Math.max(1, channels / reduction), activation: 'relu', name: 'cbam_mlp1' });
  const mlp2 = tf.layers.dense({ units: channels, name: 'cbam_mlp2' });
  const avg = tf.layers.globalAveragePooling2d({ name: 'cbam_avg' }).apply(f) as tf.SymbolicTensor;
  const max = tf.layers.globalMaxPooling2d({ name: 'cbam_max' }).apply(f) as tf.SymbolicTensor;
  const sum = tf.layers
    .add({ name: 'cbam_sum' })
    .apply([
      mlp2.apply(mlp1.apply(avg)) as tf.SymbolicTensor,
      mlp2.apply(mlp1.apply(max)) as tf.SymbolicTensor,
    ]) as tf.SymbolicTensor;
  const mc = tf.layers.activation({ activation: 'sigmoid', name: 'channel_attention' }).apply(sum) as tf.SymbolicTensor;
  const mcMap = tf.layers
    .reshape({ targetShape: [1, 1, channels], name: 'cbam_mc_map' })
    .apply(mc) as tf.SymbolicTensor;
  const fc = tf.layers.multiply({ name: 'cbam_apply_channel' }).apply([f, mcMap]) as tf.SymbolicTensor;
  const pooled = new ChannelPool({ name: 'cbam_channel_pool' }).apply(fc) as tf.SymbolicTensor;
  const ms = conv(1, 7, ATTENTION_LAYER, 'sigmoid').apply(pooled) as tf.SymbolicTensor;
  return tf.layers.multiply({ name: 'cbam_apply_spatial' }).apply([fc, ms]) as tf.SymbolicTensor;
}

/** The v1 reference classifier's architecture (models/reference/classifier), for the TF.js path's tests. */
export function buildCbamClassifier(numClasses = 10, dropout = 0.3): tf.LayersModel {
  const input = tf.input({ shape: [REFERENCE_INPUT, REFERENCE_INPUT, 3], name: 'image' });
  let x = convBn(input, 16, 'conv1');
  x = tf.layers.maxPooling2d({ poolSize: 2, name: 'pool1' }).apply(x) as tf.SymbolicTensor;
  x = convBn(x, 32, 'conv2');
  x = tf.layers.maxPooling2d({ poolSize: 2, name: 'pool2' }).apply(x) as tf.SymbolicTensor;
  x = convBn(x, 64, 'conv3');
  x = cbam(x, 64, 8);
  // The Grad-CAM layer: the last convolution, read after its ReLU.
  x = convBn(x, 96, 'gradcam');
  x = tf.layers.activation({ activation: 'linear', name: GRADCAM_LAYER }).apply(x) as tf.SymbolicTensor;
  // Head after the Grad-CAM layer: GAP -> dropout -> dense. Grad-CAM equals CAM here.
  x = tf.layers.globalAveragePooling2d({ name: 'gap' }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.dropout({ rate: dropout, name: 'head_dropout' }).apply(x) as tf.SymbolicTensor;
  const logits = tf.layers.dense({ units: numClasses, name: LOGITS_LAYER }).apply(x) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: logits, name: 'cbam_classifier' });
}

/**
 * Encoder-decoder with additive skips (LinkNet-style): adds instead of concatenations,
 * because concat's gradient (SplitV) is a slow row loop on wasm.
 */
export function buildSegmenter(): tf.LayersModel {
  const input = tf.input({ shape: [REFERENCE_INPUT, REFERENCE_INPUT, 3], name: 'image' });
  const c1 = conv(16, 3, 'enc1').apply(input) as tf.SymbolicTensor;
  let x = tf.layers.maxPooling2d({ poolSize: 2, name: 'down1' }).apply(c1) as tf.SymbolicTensor;
  const c2 = conv(32, 3, 'enc2').apply(x) as tf.SymbolicTensor;
  x = tf.layers.maxPooling2d({ poolSize: 2, name: 'down2' }).apply(c2) as tf.SymbolicTensor;
  x = conv(32, 3, 'bottleneck').apply(x) as tf.SymbolicTensor;
  x = tf.layers.upSampling2d({ size: [2, 2], name: 'up2' }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.add({ name: 'skip2' }).apply([x, c2]) as tf.SymbolicTensor;
  x = conv(16, 3, 'dec2').apply(x) as tf.SymbolicTensor;
  x = tf.layers.upSampling2d({ size: [2, 2], name: 'up1' }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.add({ name: 'skip1' }).apply([x, c1]) as tf.SymbolicTensor;
  x = conv(16, 3, 'dec1').apply(x) as tf.SymbolicTensor;
  const mask = conv(1, 1, 'mask', 'sigmoid').apply(x) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: mask, name: 'segmenter' });
}
