"""Run under torchrun: train a tiny VAE with DDP (gloo, CPU) and dump each rank's weights."""

import sys

import torch
import torch.distributed as dist

import genlab
from genlab.utils.serialization import save_tensors

out = sys.argv[1]
dist.init_process_group("gloo")
torch.set_num_threads(1)
data = genlab.datasets.load("digits").train[:256]
model = genlab.create("vae", latent_dim=2, hidden_dims=(16,))
model.fit(data, max_steps=8, batch_size=64, out=f"{out}/run", checkpoint_every=4, progress=False, device="cpu")
save_tensors(f"{out}/rank{dist.get_rank()}.safetensors", model.module_.state_dict())
dist.barrier()
dist.destroy_process_group()
