"""download_weights as a whole, against the loopback hub fixture: every source fetched and checked,
the prompt embeddings converted, progress per file, nothing fetched again on a second run, and a
failing source that names itself while the files before it stay."""

from __future__ import annotations

import hashlib
import io

import pytest
import torch
from safetensors.torch import load_file

from hub_fixture import serve_hub
from synchuman.errors import SyncHumanError
from synchuman.jobs import CancelToken
from synchuman.weights import PROMPT_EMBEDS_FILE, RemoteFile, download_weights


def _tensor_file(seed: int) -> bytes:
    buffer = io.BytesIO()
    torch.save(torch.randn(7, 77, 8, generator=torch.Generator().manual_seed(seed)), buffer)
    return buffer.getvalue()


FILES = {
    "ckpts/OneStage/model.safetensors": bytes(range(256)) * 4096,        # 1 MiB: more than one read
    "dinov2/dinov2_vitl14_reg4_pretrain.pth": b"dino" * 1000,
    "prompt_embeds/normal_embeds.pt": _tensor_file(1),
    "prompt_embeds/clr_embeds.pt": _tensor_file(2),
}


def _sources(url: str) -> list[RemoteFile]:
    return [RemoteFile(f"{url}/files/{name}", name, len(data), hashlib.sha256(data).hexdigest())
            for name, data in FILES.items()]


def test_download_weights_fetches_checks_and_converts_everything(tmp_path):
    progress: list[tuple[str, int, int | None]] = []
    with serve_hub(FILES) as (url, hits):
        root = download_weights(tmp_path, lambda *a: progress.append(a), CancelToken(), sources=_sources(url))
        fetched = list(hits)
        download_weights(tmp_path, lambda *a: progress.append(a), CancelToken(), sources=_sources(url))
        assert hits == fetched, "a second run fetches nothing"
    assert root == tmp_path
    for name, data in FILES.items():
        assert (tmp_path / name).read_bytes() == data
        assert not (tmp_path / f"{name}.part").exists()
    assert sorted(set(fetched)) == sorted(f"/files/{name}" for name in FILES)
    # every file reported, each ending at its full size
    finals = {name: done for name, done, _total in progress}
    assert finals == {name: len(data) for name, data in FILES.items()}
    embeds = load_file(str(tmp_path / PROMPT_EMBEDS_FILE))
    assert set(embeds) == {"normal", "clr"}
    assert torch.equal(embeds["clr"], torch.load(io.BytesIO(FILES["prompt_embeds/clr_embeds.pt"]),
                                                 weights_only=True))


def test_a_failing_source_is_named_and_the_others_stay(tmp_path):
    with serve_hub(FILES) as (url, _hits):
        sources = _sources(url)
        sources.insert(2, RemoteFile(f"{url}/files/missing.bin", "ckpts/missing.bin"))
        with pytest.raises(SyncHumanError) as info:
            download_weights(tmp_path, lambda *a: None, CancelToken(), sources=sources)
    assert info.value.code == "weights.download_failed" and "404" in str(info.value)
    assert (tmp_path / "ckpts/OneStage/model.safetensors").is_file()   # fetched before the failure
    assert not (tmp_path / PROMPT_EMBEDS_FILE).exists()
