"""Pipeline steps run per partition: each one class with declared parameters and run(inputs) -> outputs."""
