#!/usr/bin/python3
"""Renders a Helm chart offline, as `helm template` would, for the subset of Go templates it uses.

Usage: helm_render.py CHART_DIR [--set key.path=value]... [--release NAME]. Helm is not in Debian 12;
this renderer knows: {{ .Values.a.b }}, .Release.Name, .Chart.Name/.Version/.AppVersion, string,
number and bool literals, if / else if / else / end, {{- and -}} trimming, {{/* comments */}}, and
the functions eq ne not and or add quote default toYaml indent nindent. Anything else, and any value
the templates name that values.yaml lacks, is an error: the chart must stay inside what is checked.
"""
import os
import re
import shlex
import sys

import yaml

TOKEN = re.compile(r"\{\{(-?)(.*?)(-?)\}\}", re.S)


class TemplateError(Exception):
    pass


def parse(text, name):
    """A list of nodes: str, ('expr', text), ('if', [(cond, nodes)...], else_nodes)."""
    pieces, pos = [], 0
    for m in TOKEN.finditer(text):
        pieces.append(["text", text[pos:m.start()]])
        pieces.append(["action", m.group(2).strip(), m.group(1) == "-", m.group(3) == "-"])
        pos = m.end()
    pieces.append(["text", text[pos:]])
    for i, p in enumerate(pieces):  # trim markers eat the whitespace next to them
        if p[0] != "action":
            continue
        if p[2]:
            pieces[i - 1][1] = pieces[i - 1][1].rstrip()
        if p[3]:
            pieces[i + 1][1] = pieces[i + 1][1].lstrip()

    def block(i, closing):
        nodes = []
        while i < len(pieces):
            p = pieces[i]
            if p[0] == "text":
                nodes.append(p[1])
                i += 1
                continue
            action = p[1]
            word = action.split(None, 1)[0] if action else ""
            if action.startswith("/*"):
                i += 1
            elif word == "if":
                branches, otherwise = [], []
                cond = action[2:].strip()
                while True:
                    body, i, end = block(i + 1, True)
                    branches.append((cond, body))
                    if end.startswith("else if"):
                        cond = end[7:].strip()
                        continue
                    if end == "else":
                        otherwise, i, end = block(i + 1, True)
                        if end != "end":
                            raise TemplateError(f"{name}: else must be followed by end, got {end}")
                    break
                nodes.append(("if", branches, otherwise))
                i += 1
            elif word in ("else", "end"):
                if not closing:
                    raise TemplateError(f"{name}: {action} without if")
                return nodes, i, action
            elif word in ("range", "with", "define", "template", "include", "block", "tpl", "define"):
                raise TemplateError(f"{name}: '{word}' is outside the subset this renderer knows")
            else:
                nodes.append(("expr", action))
                i += 1
        if closing:
            raise TemplateError(f"{name}: if without end")
        return nodes, i, None

    return block(0, False)[0]


def truthy(v):
    return not (v is None or v is False or v == 0 or v == "" or v == [] or v == {})


def to_yaml(v):
    return yaml.safe_dump(v, default_flow_style=False, sort_keys=True).rstrip("\n")


def indent(n, text):
    return "\n".join((" " * int(n) + line) if line else line for line in str(text).split("\n"))


FUNCTIONS = {
    "eq": lambda a, b: a == b, "ne": lambda a, b: a != b, "not": lambda a: not truthy(a),
    "and": lambda *a: all(truthy(x) for x in a), "or": lambda *a: any(truthy(x) for x in a),
    "add": lambda *a: sum(int(x) for x in a), "quote": lambda v: '"' + str(v).replace('"', '\\"') + '"',
    "default": lambda d, v=None: v if truthy(v) else d, "toYaml": to_yaml,
    "indent": indent, "nindent": lambda n, t: "\n" + indent(n, t),
}


class Renderer:
    def __init__(self, scope, name):
        self.scope, self.name = scope, name

    def value(self, word):
        if word.startswith("."):
            v = self.scope
            for part in word[1:].split("."):
                if not isinstance(v, dict) or part not in v:
                    raise TemplateError(f"{self.name}: {word} is not in the values")
                v = v[part]
            return v
        if word.startswith('"'):
            return shlex.split(word)[0]
        if word in ("true", "false"):
            return word == "true"
        if re.fullmatch(r"-?\d+", word):
            return int(word)
        raise TemplateError(f"{self.name}: cannot read '{word}'")

    def evaluate(self, expression):
        tokens = re.findall(r'"(?:[^"\\]|\\.)*"|[()|]|[^\s()|]+', expression)
        value, rest = self.pipeline(tokens)
        if rest:
            raise TemplateError(f"{self.name}: unexpected '{rest[0]}' in '{expression}'")
        return value

    def pipeline(self, tokens):
        """command ('|' command)*, a command's last argument being the value piped into it."""
        piped = []
        while True:
            args, tokens = [], list(tokens)
            words = 0
            while tokens and tokens[0] not in ("|", ")"):
                token = tokens.pop(0)
                if token == "(":
                    inner, tokens = self.pipeline(tokens)
                    if not tokens or tokens.pop(0) != ")":
                        raise TemplateError(f"{self.name}: '(' without ')'")
                    args.append(("value", inner))
                else:
                    args.append(("word", token))
                words += 1
            if not args:
                raise TemplateError(f"{self.name}: an empty command")
            head = args[0]
            if head[0] == "word" and head[1] in FUNCTIONS:
                values = [self.value(a[1]) if a[0] == "word" else a[1] for a in args[1:]] + piped
                result = FUNCTIONS[head[1]](*values)
            elif len(args) == 1 and not piped:
                result = self.value(head[1]) if head[0] == "word" else head[1]
            else:
                raise TemplateError(f"{self.name}: '{head[1]}' is not a function this renderer knows")
            piped = [result]
            if tokens and tokens[0] == "|":
                tokens.pop(0)
                continue
            return result, tokens

    def render(self, nodes):
        out = []
        for node in nodes:
            if isinstance(node, str):
                out.append(node)
            elif node[0] == "expr":
                v = self.evaluate(node[1])
                out.append("" if v is None else ("true" if v is True else "false" if v is False else str(v)))
            else:
                for cond, body in node[1]:
                    if truthy(self.evaluate(cond)):
                        out.append(self.render(body))
                        break
                else:
                    out.append(self.render(node[2]))
        return "".join(out)


def set_value(values, path, text):
    keys = path.split(".")
    for k in keys[:-1]:
        if not isinstance(values.get(k), dict):
            raise TemplateError(f"--set {path}: {k} is not a map in values.yaml")
        values = values[k]
    if keys[-1] not in values:
        raise TemplateError(f"--set {path}: not in values.yaml")
    values[keys[-1]] = yaml.safe_load(text)


def render_chart(chart, sets=(), release="pgfunnel"):
    meta = yaml.safe_load(open(os.path.join(chart, "Chart.yaml")))
    values = yaml.safe_load(open(os.path.join(chart, "values.yaml"))) or {}
    for item in sets:
        path, _, text = item.partition("=")
        set_value(values, path, text)
    scope = {"Values": values, "Release": {"Name": release, "Namespace": "default"},
             "Chart": {"Name": meta["name"], "Version": meta["version"], "AppVersion": meta.get("appVersion", "")}}
    out = []
    directory = os.path.join(chart, "templates")
    for file in sorted(os.listdir(directory)):
        if not file.endswith(".yaml"):
            continue
        name = f"{meta['name']}/templates/{file}"
        text = Renderer(scope, name).render(parse(open(os.path.join(directory, file)).read(), name))
        if text.strip():  # helm template leaves out a file that renders to nothing
            out.append(f"---\n# Source: {name}\n{text.strip()}\n")
    return "".join(out)


def main():
    args, sets, release = sys.argv[1:], [], "pgfunnel"
    chart = args.pop(0)
    while args:
        flag = args.pop(0)
        if flag == "--set":
            sets.append(args.pop(0))
        elif flag == "--release":
            release = args.pop(0)
        else:
            sys.exit(f"unknown argument {flag}")
    try:
        sys.stdout.write(render_chart(chart, sets, release))
    except TemplateError as e:
        sys.exit(f"helm_render: {e}")


if __name__ == "__main__":
    main()
