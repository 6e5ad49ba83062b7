"""Shared set-up: torch (the reference) runs at one thread, or tiny networks crawl on this machine."""

import torch

torch.set_num_threads(1)
