"""Launcher side: CLI (`curate`), config, graph assembly, tokenizer step, manifests, report."""
