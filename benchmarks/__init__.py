"""Speed/memory benchmarks with their own runner: ``python -m benchmarks NAME [args]``.

Each benchmark is a module ``benchmarks/<name>.py`` with ``main(argv: list[str] | None) -> None``;
shared helpers (machine info, peak memory, synthetic activations) live in ``benchmarks._common``.
"""
