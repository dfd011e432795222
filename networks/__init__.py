"""Shared neural building blocks reused by every model and guide in the zoo.

Convention: every network is a plain ``torch.nn.Module``; a model or guide registers
its whole module tree once per call with ``pyro.module(name, self)`` (as Pyro's
``examples/dmm.py`` does), so ``.to(device)`` and ``state_dict()`` behave as in torch.
"""
from networks.frames import FrameDecoder, FrameEncoder, StagedConvDecoder, StagedConvEncoder
from networks.heads import MLP, GaussianHead
from networks.mixture import MoEDecoder
from networks.recurrent import BiLSTM, LSTMStep
from networks.state_space import Combiner, GatedTransition
from networks.vectors import VectorFrameDecoder, VectorFrameEncoder, frame_decoder, frame_encoder, frame_kind

__all__ = ["FrameEncoder", "FrameDecoder", "StagedConvEncoder", "StagedConvDecoder", "GaussianHead", "MLP", "BiLSTM", "LSTMStep", "MoEDecoder", "GatedTransition", "Combiner",
           "VectorFrameEncoder", "VectorFrameDecoder", "frame_encoder", "frame_decoder", "frame_kind"]
