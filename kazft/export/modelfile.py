"""What Ollama and LM Studio need next to a GGUF: a Modelfile and a short note.

The Modelfile's template renders a conversation as Gemma 3's own chat template
(and kazft's training) does: the system prompt goes inside the first user turn,
followed by a blank line, and every turn ends with <end_of_turn>, which is also
the stop token. Sampling is conservative (temperature 0.2): legal answers should
vary little between runs.
"""

from __future__ import annotations

from typing import Any

from kazft.notice import AI_NOTICE

TEMPERATURE = 0.2

# Ollama's Go template; .System is the SYSTEM line below.
_TEMPLATE = """{{- $first := true }}
{{- range $i, $_ := .Messages }}
{{- $last := eq (len (slice $.Messages $i)) 1 }}
{{- if eq .Role "user" }}<start_of_turn>user
{{ if and $first $.System }}{{ $.System }}

{{ end }}{{ $first = false }}{{ .Content }}<end_of_turn>
{{ if $last }}<start_of_turn>model
{{ end }}
{{- else if eq .Role "assistant" }}<start_of_turn>model
{{ .Content }}{{ if not $last }}<end_of_turn>
{{ end }}
{{- end }}
{{- end }}"""


def _quoted(text: str) -> str:
    return '"""' + text.replace('"""', '\\"\\"\\"') + '"""'


def modelfile(gguf_file: str, system_prompt: str | None, context: int) -> str:
    lines = [
        "# Ollama: `ollama create NAME -f THIS_FILE`, then `ollama run NAME`.",
        "# Written by kazft export --format gguf. " + AI_NOTICE["en"],
        f"FROM ./{gguf_file}",
        f"TEMPLATE {_quoted(_TEMPLATE)}",
    ]
    if system_prompt:
        lines.append(f"SYSTEM {_quoted(system_prompt.strip())}")
    lines += [
        'PARAMETER stop "<end_of_turn>"',
        f"PARAMETER temperature {TEMPERATURE}",
        "PARAMETER top_p 0.95",
        f"PARAMETER num_ctx {context}",
    ]
    return "\n".join(lines) + "\n"


def lmstudio_note(gguf_file: str, system_prompt: str | None, info: dict[str, Any]) -> str:
    sys_text = (
        system_prompt.strip() if system_prompt else "(none: the recipe sets no system prompt)"
    )
    return "\n".join(
        [
            f"# {gguf_file} in LM Studio, Ollama or llama.cpp",
            "",
            f"Model: {info['name']}. Type {info['type']}, {info['bytes']:,} bytes.",
            "",
            "LM Studio: My Models -> the folder icon -> put this file in a folder of its own",
            "(LM Studio expects models/PUBLISHER/NAME/FILE.gguf), load it, and in the chat",
            "settings keep the prompt template LM Studio reads from the file (Gemma 3), set",
            f"temperature {TEMPERATURE} and paste the system prompt below.",
            "",
            "llama.cpp: llama-cli -m " + gguf_file + " -cnv --temp " + str(TEMPERATURE),
            "",
            "Ollama: see the .Modelfile next to this file.",
            "",
            "System prompt used in training:",
            "",
            sys_text,
            "",
            "Kazakhstan's AI law: every answer is machine-generated and must be checked by a",
            "qualified lawyer before anyone relies on it.",
            "",
            *(f"- {AI_NOTICE[k]}" for k in ("kk", "ru", "en")),
            "",
        ]
    )
