"""SB3's model-file format (a zip of JSON and tensors), read without unpickling, and the model's load/save glue."""
