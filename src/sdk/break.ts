/**
 * @regshape/sdk/break: break mode's rules (docs/break-mode.md), to change requests on their way
 * out on purpose: give a BreakSession to a Transport (`breakStage`) and read its events.
 */
export {RULES_SCHEMA, loadRules, parseRules} from '../break/load.js'
export {
  ACTIONS,
  ACTIONS_FOR,
  type BreakAction,
  type BreakMatch,
  type BreakRule,
  type BreakTarget,
  BUILTIN_RULE_NAMES,
  type BuiltinRuleName,
  EXPIRED_TOKEN,
  type Mutation,
  RuleSet,
  TARGETS,
  builtinRules,
  corruptText,
} from '../break/rules.js'
export {type BreakEvent, BreakSession, type BreakStage} from '../break/session.js'
