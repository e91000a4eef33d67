/** Exit codes of `atsim`, stable and documented in the README. */
export const EXIT_OK = 0;
/** A scenario's expectation was not met, or `check` found a cell that differs from `expect`. */
export const EXIT_FINDINGS = 1;
/** Bad input: a file, option, scenario or machine description atsim cannot use. */
export const EXIT_BAD_INPUT = 2;
/** A bug in atsim itself. */
export const EXIT_INTERNAL = 3;
