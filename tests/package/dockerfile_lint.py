#!/usr/bin/python3
"""A Dockerfile lint for the rules that matter here (hadolint is not in Debian 12).

Usage: dockerfile_lint.py DOCKERFILE [CONFIG_YAML]. Prints each finding with its hadolint code where
there is one; exits 1 on any. With CONFIG_YAML, EXPOSE and HEALTHCHECK are checked against the
ports the image's PGFUNNEL_LISTEN_* variables set.
"""
import json
import re
import sys


def instructions(text):
    """(line number, INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    out, buf, start = [], "", 0
    for number, line in enumerate(text.splitlines(), 1):
        if not buf and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if not buf:
            start = number
        if line.rstrip().endswith("\\"):
            buf += line.rstrip()[:-1] + " "
            continue
        buf += line
        word, _, rest = buf.strip().partition(" ")
        out.append((start, word.upper(), rest.strip()))
        buf = ""
    return out


def lint(path):
    findings = []
    found = lambda line, code, message: findings.append(f"{path}:{line}: {code} {message}")
    steps = instructions(open(path).read())
    stages = []
    user = None
    env = {}
    pipefail = False
    for line, op, args in steps:
        if op == "FROM":
            image = args.split()[0]
            if image.split("/")[-1].count(":") == 0 and "@" not in image and image.lower() not in stages:
                found(line, "DL3006", f"FROM {image}: give the tag explicitly")
            if image.endswith(":latest"):
                found(line, "DL3007", f"FROM {image}: never :latest")
            match = re.search(r"\bAS\s+(\S+)", args, re.I)
            stages.append(match.group(1).lower() if match else str(len(stages)))
            user, pipefail = None, False  # USER and SHELL are per stage
        elif op == "SHELL":
            pipefail = "pipefail" in args
        elif op == "USER":
            user = args
        elif op == "ENV":
            env.update(dict(re.findall(r"(\w+)=(\S+)", args)))
        elif op == "ADD":
            found(line, "DL3020", "use COPY, not ADD, for files")
        elif op == "COPY":
            match = re.search(r"--from=(\S+)", args)
            if match and match.group(1).lower() not in stages[:-1]:
                found(line, "DL3022", f"COPY --from={match.group(1)} names no earlier stage")
        elif op in ("CMD", "ENTRYPOINT"):
            try:
                json.loads(args)
            except ValueError:
                found(line, "DL3025", f"{op} in JSON form, so signals reach pgfunnel (no sh -c in between)")
        elif op == "RUN":
            commands = re.split(r"&&|;|\|\|", args)
            if re.search(r"(^|\s)apt(\s|$)", args):
                found(line, "DL3027", "apt-get, not apt, in scripts")
            if re.search(r"(^|&&|;)\s*cd\s", args):
                found(line, "DL3003", "WORKDIR, not cd")
            if "|" in args.replace("||", "") and not pipefail:
                found(line, "DL4006", "a pipe in RUN needs SHELL [... -o pipefail ...]")
            installs = [c for c in commands if re.search(r"apt-get\s+(\S+\s+)*install", c)]
            for c in installs:
                if not re.search(r"\s(-y|--yes|--assume-yes)\b", c):
                    found(line, "DL3014", "apt-get install -y")
                if "--no-install-recommends" not in c:
                    found(line, "DL3015", "apt-get install --no-install-recommends")
            if installs and "rm -rf /var/lib/apt/lists" not in args:
                found(line, "DL3009", "remove /var/lib/apt/lists in the RUN that installs")
            if "apt-get update" in args and not installs:
                found(line, "DL3009", "apt-get update alone in a RUN leaves a stale cache layer")
    if len(stages) < 2:
        found(1, "PF001", "multi-stage: build in one stage, run from a slim one")
    if user is None or user in ("root", "0"):
        found(steps[-1][0], "DL3002", "the final stage must switch to a non-root USER")
    ops = [op for _, op, _ in steps]
    if "HEALTHCHECK" not in ops:
        found(steps[-1][0], "PF002", "no HEALTHCHECK")
    if "EXPOSE" not in ops:
        found(steps[-1][0], "PF003", "no EXPOSE")
    # The ports the image listens on (its PGFUNNEL_LISTEN_* variables) are the ports it exposes and
    # the port its health check asks.
    listen = {k: v.rsplit(":", 1)[1] for k, v in env.items() if k.startswith("PGFUNNEL_LISTEN_") and v != "off"}
    exposed = {p for _, op, a in steps if op == "EXPOSE" for p in a.split()}
    if listen and set(listen.values()) != exposed:
        found(1, "PF004", f"EXPOSE {sorted(exposed)} is not the listeners' ports {sorted(set(listen.values()))}")
    health = " ".join(a for _, op, a in steps if op == "HEALTHCHECK")
    http_port = listen.get("PGFUNNEL_LISTEN_HTTP")
    if health and http_port and f"/{http_port}" not in health and f":{http_port}" not in health:
        found(1, "PF005", f"HEALTHCHECK does not ask the http listener's port {http_port}")
    if health and "/healthz" not in health:
        found(1, "PF005", "HEALTHCHECK does not ask /healthz")
    return findings


def main():
    findings = lint(sys.argv[1])
    for f in findings:
        print(f)
    print(f"{sys.argv[1]}: {'clean' if not findings else str(len(findings)) + ' finding(s)'}")
    sys.exit(1 if findings else 0)


main()
