"""Shared networks: shapes for 64 and 32 px, clear errors, positive scales."""
import pytest
import torch

from networks import BiLSTM, FrameDecoder, FrameEncoder, GaussianHead


@pytest.mark.parametrize("size", [64, 32, 16])
def test_encoder_decoder_shapes(size):
    encoder = FrameEncoder(size, 3, out_dim=10, width=4)
    decoder = FrameDecoder(7, size, 3, width=4)
    frames = torch.rand(2, 5, 3, size, size)
    assert encoder(frames).shape == (2, 5, 10)
    assert decoder(torch.randn(2, 5, 7)).shape == (2, 5, 3, size, size)


def test_encoder_rejects_wrong_frame_size():
    with pytest.raises(ValueError, match="expects frames of shape"):
        FrameEncoder(64, 3, 10)(torch.rand(2, 3, 32, 32))
    with pytest.raises(ValueError, match="power of two"):
        FrameEncoder(48, 3, 10)


def test_gaussian_head_scale_is_positive():
    loc, scale = GaussianHead(6, 3, hidden_dim=5)(torch.randn(100, 6) * 100)
    assert loc.shape == scale.shape == (100, 3)
    assert (scale > 0).all()


def test_bilstm_summary_reads_whole_sequence():
    rnn = BiLSTM(3, 4)
    x = torch.randn(2, 6, 3)
    states, summary = rnn(x)
    assert states.shape == (2, 6, 8) and summary.shape == (2, 8)
    x_changed = x.clone()
    x_changed[:, -1] += 1.0  # the last frame must reach the backward half of the summary too
    _, summary_changed = rnn(x_changed)
    assert not torch.allclose(summary[:, 4:], summary_changed[:, 4:])


def test_bilstm_summary_is_each_directions_final_state():
    """Forward direction after the last frame, backward direction after the first: exactly nn.LSTM's final h_n."""
    rnn = BiLSTM(3, 4)
    x = torch.randn(2, 6, 3)
    _, summary = rnn(x)
    _, (h_n, _) = rnn.lstm(x)
    assert torch.allclose(summary, torch.cat([h_n[0], h_n[1]], dim=-1))
    x_first = x.clone()
    x_first[:, 0] += 1.0  # the first frame must reach the backward half (it reads the sequence from the end)
    _, summary_first = rnn(x_first)
    assert not torch.allclose(summary[:, 4:], summary_first[:, 4:])


def test_decoder_hidden_layer_is_optional_and_keeps_old_checkpoints_loadable():
    plain, deep = FrameDecoder(7, 16, 1, width=4), FrameDecoder(7, 16, 1, width=4, hidden_dim=9)
    assert [tuple(p.shape) for p in deep.fc.parameters()] == [(9, 7), (9,), (128, 9), (128,)]  # 7 -> 9 -> 8 ch x 4 x 4
    assert deep(torch.randn(2, 3, 7)).shape == (2, 3, 1, 16, 16)
    assert {k for k in plain.state_dict() if k.startswith("fc.")} == {"fc.0.weight", "fc.0.bias"}  # the layout before the option
    with pytest.raises(ValueError, match="hidden_dim must be >= 0"):
        FrameDecoder(7, 16, 1, hidden_dim=-1)
