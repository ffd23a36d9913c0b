/** quickselect 2 (mourner/quickselect, CommonJS): rearranges `arr` so that arr[k] is the k-th smallest. */
declare module 'quickselect' {
  function quickselect<T>(
    arr: ArrayLike<T> & { [i: number]: T },
    k: number,
    left?: number,
    right?: number,
    compare?: (a: T, b: T) => number,
  ): void;
  export = quickselect;
}
