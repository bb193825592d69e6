"""A vLLM-style EPLB policy package (imitates `vllm/distributed/eplb/policy/`)."""
