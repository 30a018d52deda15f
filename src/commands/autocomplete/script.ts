import {join} from 'node:path'

import {Args, Command} from '@oclif/core'

/**
 * The line `regshape autocomplete <shell>` tells people to put in their shell's rc file, in place
 * of @oclif/plugin-autocomplete's own (the CLI's command wins over a core plugin's of the same
 * id). The plugin's line sources the cache only if it is there, so a removed cache
 * (`rm -rf ~/.cache/regshape`) silently ended completion until someone thought of
 * `regshape autocomplete --refresh-cache`; this one rebuilds it first, quietly, when it is gone.
 * No `%` or backslash in it: the instructions pass it through printf.
 */
export default class AutocompleteScript extends Command {
  static override args = {
    shell: Args.string({description: 'Shell type', options: ['zsh', 'bash', 'powershell'], required: false}),
  }

  static override description = 'outputs autocomplete config script for shells'

  static override hidden = true

  async run(): Promise<void> {
    const {args} = await this.parse(AutocompleteScript)
    const shell = args.shell ?? this.config.shell
    const {bin, cacheDir} = this.config
    const cache = join(cacheDir, 'autocomplete')
    if (shell === 'powershell') {
      this.log(`. ${join(cache, 'functions', 'powershell', `${bin}.ps1`)}`)
      return
    }

    const variable = `${bin.toUpperCase().replaceAll('-', '_')}_AC_${shell.toUpperCase()}_SETUP_PATH`
    const functions = shell === 'zsh' ? join(cache, 'functions', 'zsh', `_${bin}`) : join(cache, 'functions', 'bash', `${bin}.bash`)
    const rebuild = `{ { test -f "$${variable}" && test -f '${functions}'; } || ${bin} autocomplete --refresh-cache >/dev/null 2>&1; }`
    this.log(`\n${variable}='${join(cache, `${shell}_setup`)}' && ${rebuild} && test -f "$${variable}" && source "$${variable}"; # ${bin} autocomplete setup\n`)
  }
}
