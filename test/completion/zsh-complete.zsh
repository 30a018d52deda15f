# Presses TAB in a real interactive zsh and prints every candidate the completion system offers.
#
#   zsh -f zsh-complete.zsh FPATH_DIR 'regshape auth lo'
#
# A child `zsh -f -i` runs on a pseudo-terminal (zsh/zpty) with compinit and FPATH_DIR (holding
# `_regshape`) in fpath. compadd is wrapped so that every candidate actually added is also printed
# as <c>word</c>; calls that only filter or query (-O, -A, -D) are passed through untouched.
zmodload zsh/zpty || exit 3
local dir=$1 line=$2 out

zpty complete zsh -f -i
# the quotes split the markers, so the echo of what is typed never matches what is waited for
zpty -w complete "PS1='ZP''>' RPROMPT='' PROMPT_EOL_MARK=''"
zpty -w complete "fpath=(${(q)dir} \$fpath); autoload -Uz compinit; compinit -u -D"
zpty -w complete 'compadd() {
  if [[ ${@[1,(i)(-|--)]} == *-(O|A|D)\ * ]]; then builtin compadd "$@"; return; fi
  local -a __hits; builtin compadd -A __hits "$@"
  (( $#__hits )) && print -r -- "<c>"${^__hits}"</c>"
  builtin compadd "$@"
}'
zpty -w complete "print -r -- __RE''ADY__"
# wait for the prompt after the set-up: keys typed earlier would reach the tty, not zle
zpty -r complete out '*__READY__*ZP>*' || exit 4
zpty -w -n complete "$line"$'\t'
# ^U clears the line, then a marker shows that the completion has finished
zpty -w complete $'\x15'"print -r -- __EN''D__"
zpty -r complete out '*__END__*' || exit 5
print -r -- "$out"
zpty -d complete
