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

/**
 * What kind of failure an error is, for code that branches on it (never on message text). Set by
 * the layer that knows: the transport for a size limit, the registry layer for what an answer
 * means (denied: the credentials lack the right), the content layer for a digest mismatch.
 */
export type ErrorKind = 'denied' | 'digest-mismatch' | 'not-found' | 'size-limit' | 'unauthorized' | 'unsupported'

export interface RegshapeErrorOptions {
  /**
   * The digest the message names at its start (`blob sha256:… does not exist`), so that a
   * caller that names what failed in the same words (a copy) does not name it twice.
   */
  about?: string
  cause?: unknown
  exitCode?: ExitCodeValue
  kind?: ErrorKind
}

export class RegshapeError extends Error {
  readonly about?: string
  readonly exitCode: ExitCodeValue
  readonly kind?: ErrorKind

  constructor(message: string, options: RegshapeErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : {cause: options.cause})
    this.name = new.target.name
    this.exitCode = options.exitCode ?? ExitCode.Failure
    this.kind = options.kind
    this.about = options.about
  }
}

/**
 * The one way to say what was being done when an error happened: `blob get host/repo@sha256:…:
 * <the error>`. Its kind, exit code and subject stay; an error that is not regshape's own (a
 * bug) is left as it is, for the last-resort handler.
 */
export function withContext(error: unknown, what: string, options: {about?: string} = {}): Error {
  if (!(error instanceof RegshapeError)) return error as Error
  return new RegshapeError(`${what}: ${error.message}`, {about: error.about ?? options.about, cause: error, exitCode: error.exitCode, kind: error.kind})
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
