// Catching a StnetError in tests: the thrown (or rejected) value must be a StnetError, and is returned for checks.
import { expect } from 'vitest';
import { StnetError } from '../../src/errors.js';

export function caught(fn: () => unknown): StnetError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(StnetError);
    return err as StnetError;
  }
  throw new Error('expected an error');
}

export async function rejection(p: Promise<unknown>): Promise<StnetError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(StnetError);
    return err as StnetError;
  }
  throw new Error('expected a rejection');
}

/** `fn` throws a StnetError with this code and a message matching `message`. */
export function expectCode(fn: () => unknown, code: string, message: RegExp): StnetError {
  const err = caught(fn);
  expect(err.code).toBe(code);
  expect(err.message).toMatch(message);
  return err;
}

/** `p` rejects with a StnetError with this code and a message matching `message`. */
export async function rejects(p: Promise<unknown>, code: string, message: RegExp): Promise<StnetError> {
  const err = await rejection(p);
  expect(err.code).toBe(code);
  expect(err.message).toMatch(message);
  return err;
}
