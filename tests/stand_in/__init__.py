"""The Hub stand-in (tests/hub_stand_in/) driven by the real huggingface_hub client.

These tests prove that the stand-in answers what huggingface_hub 2.4 actually sends, so that
tests of vae_hub's publishing code can rely on it. Nothing in huggingface_hub is patched: the
client reaches the stand-in through HF_ENDPOINT, set before huggingface_hub is first imported
(by tests/conftest.py).
"""
