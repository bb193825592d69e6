"""A vLLM-style policy package whose slot-preservation pass is broken."""
