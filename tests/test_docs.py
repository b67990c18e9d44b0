"""The generated parts of the README and docs/ are up to date, and every number about the
bundled model that their prose quotes is the one its metrics.json or training.json holds."""

from __future__ import annotations

import re

import pytest

from .docs import BLOCK, PAGES, ROOT, formatted, generated, unmarked_numbers, wrong_markers


def page_id(page):
    return page.relative_to(ROOT).as_posix()


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_generated_parts_are_up_to_date(page):
    text = page.read_text(encoding="utf-8")
    assert generated(text) == text, f"run: python -m tests.docs --write ({page_id(page)})"


def test_the_pages_have_their_generated_parts():
    def names(page):
        return [m.group("name") for m in BLOCK.finditer(page.read_text(encoding="utf-8"))]

    assert names(ROOT / "README.md") == ["results"]
    assert names(ROOT / "docs" / "reference.md") == ["train-flags"]


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_numbers_about_the_bundled_model_are_its_own(page):
    """Marked numbers equal the bundled model's files; no copy of one goes unmarked."""
    text = page.read_text(encoding="utf-8")
    assert wrong_markers(text) == []
    assert unmarked_numbers(text) == []


def test_stale_and_unmarked_numbers_are_caught():
    elbo = formatted("negative_elbo")
    stale = f"{float(elbo) + 0.25:.2f}"
    assert wrong_markers(f"the ELBO is <!--bundled:negative_elbo-->{stale} nats") != []
    assert wrong_markers("<!--bundled:no_such_metric-->1.00") != []
    assert wrong_markers(f"the ELBO is <!--bundled:negative_elbo-->{elbo} nats") == []
    assert unmarked_numbers(f"the bundled model reaches {elbo} nats") != []
    assert unmarked_numbers(f"it reaches <!--other-model-->{elbo} nats, {elbo}1 too") == []


SHIPPED_TEXT = [
    *PAGES,
    *sorted((ROOT / "configs").iterdir()),
    *sorted((ROOT / "vae_hub" / "pretrained").glob("*.json")),
    ROOT / "vae_hub" / "pretrained" / "README.md",
]
# What a path of the machine the project was written on looks like: its data folder beside
# the clone, or an absolute path into a home, work or temporary folder.
MACHINE_PATH = re.compile(r"\.\./shared\b|(?<![\w.])/(?:work|home|root|tmp)/[\w.-]+")


@pytest.mark.parametrize("document", SHIPPED_TEXT, ids=page_id)
def test_no_shipped_document_names_a_path_of_this_machine(document):
    text = document.read_text(encoding="utf-8")
    assert MACHINE_PATH.findall(text) == [], page_id(document)


def test_a_machine_path_is_caught():
    assert MACHINE_PATH.findall('"data_dir": "../shared/data"') != []
    assert MACHINE_PATH.findall("--data-dir /home/ann/mnist") != []
    assert MACHINE_PATH.findall("--data-dir ./MNIST_dataset") == []
