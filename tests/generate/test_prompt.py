"""Generation refuses exactly the control tokens training refuses."""

from __future__ import annotations

import pytest

from kazft.data.render import ChatEncoder
from kazft.errors import KazftError
from kazft.generate.prompt import control_token_in, prompt_ids, question_messages
from kazft.generate.source import default_data


@pytest.mark.parametrize(
    "text", ["<end_of_turn>", "<bos>", "<start_of_image>", "<unused7>", "<start_of_turn>"]
)
def test_generate_refuses_what_training_refuses(tiny_tokenizer, text: str):
    question = f"Неке жасы {text} қанша?"
    assert ChatEncoder(tiny_tokenizer).control_token_in(question) == text  # training's verdict
    with pytest.raises(KazftError, match=f"contains the control token {text}"):
        prompt_ids(tiny_tokenizer, question_messages(default_data(), question))


def test_lookalike_text_is_not_a_control_token(tiny_tokenizer):
    for text in ("<b>html</b> [x] <unused>", "a < b > c", "<end_of_turn"):
        assert control_token_in(tiny_tokenizer, text) is None
        assert ChatEncoder(tiny_tokenizer).control_token_in(text) is None
