"""The `deepseek` profile: DeepSeek's module-level functions, positional, int64 torch outputs."""

from __future__ import annotations

from verifier.calling.profiles.base import Profile


class DeepSeekProfile(Profile):
    """As DeepSeek published it: `fn(weight, *args)`, outputs judged exactly as returned."""

    name = "deepseek"
