/**
 * The error vocabulary of regshape. Every failure a user can meet is one of these classes, so
 * RegshapeCommand maps an error to its exit code and its one-line message in a single place.
 * Messages never contain a secret: callers build them from names, hosts and status codes only.
 */

export const ExitCode = {
  /** The operation failed: wrong credentials, unreachable registry, unusable config or helper. */
  Failure: 1,
  /** The command line itself is wrong: unknown or missing flags, conflicting flags, a bad reference. */
  Usage: 2,
  /** The registry does not offer the API asked for (the catalog: upstream's cli-catalog.md). */
  Unsupported: 3,
  /** Interrupted by the user (Ctrl-C), as shells report SIGINT. */
  Interrupted: 130,
} as const

export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode]

export class RegshapeError extends Error {
  readonly exitCode: ExitCodeValue

  constructor(message: string, options: {cause?: unknown; exitCode?: ExitCodeValue} = {}) {
    super(message, options.cause === undefined ? undefined : {cause: options.cause})
    this.name = new.target.name
    this.exitCode = options.exitCode ?? ExitCode.Failure
  }
}

/** The command line is malformed (rendered like any other error, but exits 2). */
export class UsageError extends RegshapeError {
  constructor(message: string) {
    super(message, {exitCode: ExitCode.Usage})
  }
}

/** Input that is well-formed on the command line but unusable (empty password, bad registry name). */
export class InputError extends RegshapeError {}

/** The user pressed Ctrl-C at a prompt. */
export class InterruptedError extends RegshapeError {
  constructor() {
    super('Interrupted', {exitCode: ExitCode.Interrupted})
  }
}

/** config.json could not be read, parsed or written. */
export class DockerConfigError extends RegshapeError {
  constructor(
    message: string,
    readonly path: string,
    options: {cause?: unknown} = {},
  ) {
    super(message, options)
  }
}

/** A docker-credential-<name> helper is missing, failed, or answered something unusable. */
export class CredentialHelperError extends RegshapeError {
  constructor(
    message: string,
    readonly helper: string,
    /** missing: no such binary; failed: non-zero exit; invalid: unusable output; timeout: no answer. */
    readonly reason: 'failed' | 'invalid' | 'missing' | 'timeout',
    options: {cause?: unknown} = {},
  ) {
    super(message, options)
  }
}

/** The registry could not be reached or did not speak HTTP as expected (DNS, TCP, TLS, timeout). */
export class NetworkError extends RegshapeError {}

/** The registry or its token server refused the credentials. */
export class AuthenticationError extends RegshapeError {}

/** The registry answered, but not in a way the distribution API allows (bad challenge, bad token JSON...). */
export class ProtocolError extends RegshapeError {}

/** Text of an unknown thrown value, for the last-resort error line. */
export function describeError(error: unknown): string {
  if (error instanceof Error) return error.message
  return String(error)
}
