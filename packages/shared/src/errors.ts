/**
 * Errors that say what to fix. Each names the bad input and the remedy in one line; the
 * CLI prints `message` alone for an OverMapError and exits non-zero.
 */
export class OverMapError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Bad user input: a URI, an option, a spec, a label file. */
export class InputError extends OverMapError {}

/** A dependency (Redis, S3) that cannot be reached or refuses us. */
export class ServiceError extends OverMapError {}

/** An object that is not in the store. */
export class NotFoundError extends OverMapError {}

/** A model spec that cannot be used, with the field that is wrong. */
export class ModelSpecError extends InputError {}

/** An object over the size the caller accepts: refused before (or while) it is downloaded. */
export class ObjectTooLarge extends OverMapError {
  constructor(
    readonly key: string,
    readonly bytes: number | null,
    readonly limit: number,
  ) {
    super(`${key} is ${bytes === null ? 'over' : `${bytes} bytes,`} over the ${limit}-byte limit`);
  }
}
