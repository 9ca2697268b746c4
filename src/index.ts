// Public surface of stnet-kinetics400. Everything a user imports comes from here.

// Errors: one class, stable codes.
export { StnetError, ERROR_CODES, isStnetError } from './errors.js';
export type { StnetErrorCode, ErrorCodeInfo } from './errors.js';

// Labels: the 400 Kinetics class names in class-id order.
export { KINETICS400_LABELS } from './labels/kinetics400.js';
