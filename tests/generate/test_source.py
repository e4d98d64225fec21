"""Which base, adapter, quantisation and prompt settings a command line selects."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from kazft.errors import KazftError, ModelError
from kazft.generate.engine import load_engine
from kazft.generate.prompt import prompt_ids, question_messages
from kazft.generate.source import parse_quantize, resolve_source, same_base
from kazft.recipe import Quantize


def test_recipe_gives_base_quantisation_adapter_and_prompt(qrun_dir: Path):
    src = resolve_source(recipe=str(qrun_dir.parent / "qrun-recipe.yaml"))
    assert (src.base, src.quantize, src.seed) == ("kazft:tiny", Quantize(bits=4, group_size=64), 7)
    assert src.adapter is not None and src.adapter.folder == qrun_dir / "adapters"
    assert src.data.system_prompt == "Сіз заңгерсіз."
    assert src.base_explicit  # checked against the adapter's base_model when loading
    assert not resolve_source(adapter=str(qrun_dir)).base_explicit  # the adapter's own base


def test_run_folder_alone_brings_its_recipe(run_dir: Path):
    src = resolve_source(adapter=str(run_dir))
    assert (src.base, src.quantize, src.adapter.kind) == ("kazft:tiny", None, "run")
    assert src.data.prompt_template == "Сұрақ: {instruction}\n\nМәтін: {input}"


def test_checkpoint_and_overrides(qrun_dir: Path):
    src = resolve_source(
        adapter=str(qrun_dir / "checkpoints" / "step-000002"), quantize="8:32", system=""
    )
    assert src.adapter.kind == "checkpoint"
    assert src.quantize == Quantize(bits=8, group_size=32)
    assert src.data.system_prompt is None


def test_plain_adapter_uses_its_recorded_quantisation(qrun_dir: Path, tmp_path: Path):
    plain = tmp_path / "plain"
    shutil.copytree(qrun_dir / "adapters", plain)
    src = resolve_source(adapter=str(plain))
    assert (src.base, src.quantize, src.data.system_prompt) == (
        "kazft:tiny",
        Quantize(bits=4, group_size=64),
        None,
    )


def test_question_is_rendered_as_training_rendered_it(run_dir: Path, engine_for):
    src = resolve_source(adapter=str(run_dir))
    tok = engine_for().tokenizer
    text, ids = prompt_ids(tok, question_messages(src.data, "Неке жасы?", "Кодекс 10-бап"))
    assert text == (
        "<bos><start_of_turn>user\nСіз заңгерсіз.\n\nСұрақ: Неке жасы?\n\nМәтін: "
        "Кодекс 10-бап<end_of_turn>\n<start_of_turn>model\n"
    )
    assert ids == tok.encode(text, add_special_tokens=False) and ids[0] == 2
    no_input, _ = prompt_ids(tok, question_messages(src.data, "Неке жасы?"))
    assert "Мәтін" not in no_input  # the documented no-input rule of the data pipeline


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        (
            {},
            ModelError,
            "nothing to load: give --recipe NAME, or --model BASE and/or --adapter PATH",
        ),
        ({"adapter": "x", "no_adapter": True}, ModelError, "--adapter and --no-adapter contradict"),
        ({"model": "kazft:tiny", "overrides": ["a.b=1"]}, ModelError, "--set changes a recipe"),
        (
            {"model": "kazft:tiny", "quantize": "7"},
            ModelError,
            r"--quantize '7': expected none, BITS",
        ),
        ({"recipe": "no-such-recipe"}, KazftError, "no recipe .no-such-recipe.: looked for"),
    ],
)
def test_bad_combinations(kwargs: dict, error: type, message: str):
    with pytest.raises(error, match=message):
        resolve_source(**kwargs)


def test_recipe_without_a_trained_adapter(tmp_path: Path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        f"model: {{base: kazft:tiny}}\ndata: {{train: t.jsonl}}\n"
        f"output: {{dir: {tmp_path / 'out'}}}\n"
    )
    with pytest.raises(
        ModelError,
        match=r"no trained adapter in .*out yet; train it \(kazft train "
        r"--recipe .*r\.yaml\), or add --no-adapter to ask the base model",
    ):
        resolve_source(recipe=str(recipe))
    assert resolve_source(recipe=str(recipe), no_adapter=True).adapter is None


def test_parse_quantize():
    assert parse_quantize("none") is None
    assert parse_quantize("4") == Quantize(bits=4, group_size=64)


def test_same_base(tiny_dir: Path):
    assert same_base("kazft:tiny", "kazft:tiny", tiny_dir)
    assert same_base(str(tiny_dir), "other-name", tiny_dir)
    snap = Path("/x/models--google--gemma-3-4b-it/snapshots/abc")
    assert same_base("google/gemma-3-4b-it", str(snap), snap)
    assert not same_base("google/gemma-3-1b-it", str(snap), snap)


def test_adapter_named_for_another_base_is_refused(run_dir: Path, tiny_dir: Path):
    src = resolve_source(model=str(tiny_dir), adapter=str(run_dir))
    with pytest.raises(ModelError) as err:
        load_engine(src)
    assert str(err.value) == (
        f"adapter {run_dir} was trained on 'kazft:tiny' (adapter_config.json base_model) but the "
        f"model is '{tiny_dir}'; use --model kazft:tiny, or add --allow-other-base if this is "
        "the same model stored elsewhere"
    )
    assert load_engine(src, allow_other_base=True).applied.merged == 24


def test_bundle_on_the_wrong_base_is_refused(run_dir: Path, tiny_dirs: dict, tmp_path: Path):
    from kazft.artifacts.manifest import fingerprint_base, write_manifest

    bundle = tmp_path / "bundle"
    shutil.copytree(run_dir / "adapters", bundle / "mlx")
    cfg = json.loads((bundle / "mlx" / "adapter_config.json").read_text())
    fp = fingerprint_base(tiny_dirs["gemma3_text"])  # exported for another model
    write_manifest(bundle, {"base_model": {"id": cfg["base_model"], "fingerprint": fp}})
    src = resolve_source(adapter=str(bundle), model=str(tiny_dirs["gemma3"]))
    with pytest.raises(
        ModelError,
        match=r"wrong base model: .* is not the model this adapter was "
        r"trained on \(config.json differs",
    ):
        load_engine(src)


def test_bundle_on_its_base_loads_whatever_the_name(run_dir: Path, tiny_dir: Path, tmp_path: Path):
    from kazft.artifacts.manifest import fingerprint_base, write_manifest

    bundle = tmp_path / "bundle"
    shutil.copytree(run_dir / "adapters", bundle / "mlx")
    write_manifest(
        bundle, {"base_model": {"id": "kazft:tiny", "fingerprint": fingerprint_base(tiny_dir)}}
    )
    src = resolve_source(adapter=str(bundle), model=str(tiny_dir))  # named differently
    assert load_engine(src).applied.merged == 24


def test_recipe_naming_another_base_than_its_adapter(
    run_dir: Path, tiny_dirs: dict, tmp_path: Path
):
    recipe = tmp_path / "r.yaml"
    other = tiny_dirs["gemma3_text"]
    recipe.write_text(
        f"model: {{base: {other}, quantize: null}}\ndata: {{train: t.jsonl}}\n"
        f"output: {{dir: {run_dir}}}\n"
    )
    with pytest.raises(ModelError, match=rf"trained on 'kazft:tiny' .* but the model is '{other}'"):
        load_engine(resolve_source(recipe=str(recipe)))
