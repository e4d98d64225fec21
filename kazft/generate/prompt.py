"""Questions to prompt token ids, exactly as training rendered them.

The user turn comes from :func:`kazft.data.render.prompt_messages` (the recipe's
system prompt and instruction/input template, the same function the data
pipeline uses), the conversation text from the tokenizer's own chat template,
and the ids from tokenizing that text without adding special tokens (the
template writes ``<bos>`` itself), as the data pipeline does.
"""

from __future__ import annotations

from typing import Any

from kazft.data.render import Messages, control_tokens, prompt_messages, system_messages
from kazft.errors import KazftError
from kazft.recipe import DataSection


def question_messages(data: DataSection, instruction: str, input: str = "") -> Messages:
    if not instruction.strip():
        raise KazftError("the question is empty; give it as an argument or on stdin")
    return prompt_messages(data, instruction, input)


def user_message(data: DataSection, text: str) -> dict[str, str]:
    """A chat turn typed by the user, through the recipe's template (no input)."""
    return prompt_messages(data.model_copy(update={"system_prompt": None}), text)[-1]


def conversation(data: DataSection, turns: Messages) -> Messages:
    """The system message (if the recipe has one) followed by the user/assistant turns."""
    return [*system_messages(data), *turns]


def control_token_in(tokenizer: Any, text: str) -> str | None:
    """A control token typed as text would end the turn early or open a new one:
    the tokenizer's special tokens, the set training refuses too."""
    return control_tokens(tokenizer).find(text)


def render(tokenizer: Any, messages: Messages, add_generation_prompt: bool = True) -> str:
    text = tokenizer.apply_chat_template(
        messages, tokenize=False, add_generation_prompt=add_generation_prompt
    )
    return str(text)


def encode(tokenizer: Any, text: str) -> list[int]:
    """Ids of rendered text; the template already wrote <bos>, add no special tokens."""
    return list(tokenizer.encode(text, add_special_tokens=False))


def prompt_ids(tokenizer: Any, messages: Messages) -> tuple[str, list[int]]:
    for m in messages:
        bad = control_token_in(tokenizer, m["content"])
        if bad:
            raise KazftError(
                f"the {m['role']} text contains the control token {bad}, which would "
                "break the chat format; remove it"
            )
    text = render(tokenizer, messages, add_generation_prompt=True)
    return text, encode(tokenizer, text)
