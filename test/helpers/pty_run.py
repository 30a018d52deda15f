"""Runs a command on a real pseudo-terminal and plays a script of expect/send steps.

Used by the tests to exercise what only a TTY shows: prompts, hidden input, Ctrl-C. Input is one
JSON object on stdin: {"argv": [...], "env": {...}, "steps": [{"expect": "...", "send": "..."}],
"timeout": seconds}. Output is one JSON object: the terminal transcript, the exit code or signal,
and whether the terminal's ECHO flag was on when the program exited.
"""
import json
import os
import pty
import select
import sys
import termios
import time

spec = json.load(sys.stdin)
deadline = time.monotonic() + spec.get("timeout", 20)
pid, fd = pty.fork()
if pid == 0:
    os.execvpe(spec["argv"][0], spec["argv"], spec["env"])

transcript = b""
failure = None


def read_some(wait):
    global transcript
    ready, _, _ = select.select([fd], [], [], wait)
    if not ready:
        return True
    try:
        data = os.read(fd, 4096)
    except OSError:
        return False
    if not data:
        return False
    transcript += data
    return True


for step in spec.get("steps", []):
    expected = step["expect"].encode()
    while expected not in transcript:
        if time.monotonic() > deadline:
            failure = "timed out waiting for %r" % step["expect"]
            break
        if not read_some(0.05):
            failure = "program ended before %r" % step["expect"]
            break
    if failure:
        break
    time.sleep(step.get("delay", 0.05))
    os.write(fd, step["send"].encode())

echo_on_exit = None
while True:
    if time.monotonic() > deadline:
        failure = failure or "timed out waiting for the program to exit"
        os.kill(pid, 9)
        break
    done, status = os.waitpid(pid, os.WNOHANG)
    if done:
        break
    try:
        echo_on_exit = bool(termios.tcgetattr(fd)[3] & termios.ECHO)
    except termios.error:
        pass
    read_some(0.05)

while read_some(0.05):
    pass
if not done:
    _, status = os.waitpid(pid, 0)
print(json.dumps({
    "transcript": transcript.decode("utf-8", "replace"),
    "code": os.WEXITSTATUS(status) if os.WIFEXITED(status) else None,
    "signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else None,
    "echoOnExit": echo_on_exit,
    "failure": failure,
}))
