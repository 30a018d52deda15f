/**
 * regshape's public SDK: what a plugin builds on (RegshapeCommand, the credential resolution chain,
 * the registry client and its errors, break mode's rules). It is published as @regshape/sdk, built
 * from this file and what it imports (packages/sdk); everything exported here is semver-stable.
 */
export {type JsonObject, RegshapeCommand, type RegshapeArgs, type RegshapeFlags, userFacing} from './command/base-command.js'
export {formatJson} from './util/text.js'
export {RULES_SCHEMA, loadRules, parseRules} from './break/load.js'
export {ACTIONS, ACTIONS_FOR, type BreakAction, type BreakMatch, type BreakRule, type BreakTarget, BUILTIN_RULE_NAMES, type BuiltinRuleName, EXPIRED_TOKEN, type Mutation, RuleSet, TARGETS, builtinRules, corruptText} from './break/rules.js'
export {type BreakEvent, BreakSession, type BreakStage} from './break/session.js'
export * from './credentials/credential-store.js'
export * from './credentials/docker-config.js'
export * from './credentials/helper-client.js'
export * from './reference/registry.js'
export * from './credentials/resolve.js'
export * from './errors.js'
export * from './command/services.js'
export * from './workflows/login.js'
export * from './workflows/ping.js'
export {type AskOptions, type Prompter, readSecretFromStdin, stripOneLineEnding, TerminalPrompter} from './command/prompt.js'
export {type Authorization, AuthMiddleware, type Credentials, type CredentialsProvider} from './transport/auth.js'
export {type Challenge, parseChallenges} from './transport/challenge.js'
export type * from './transport/http.js'
export type {HelperCall, Tracer} from './telemetry/tracer.js'
export type {Transport, TransportOptions, RegistryRequest, RegistryResponse} from './transport/transport.js'
