import torch

from plugdiff.shapesworld.text_models import char_clip_tokenizer, clip_text_encoder


def test_char_tokenizer_and_encoder():
    tok = char_clip_tokenizer()
    ids = tok("ab 7", return_tensors="pt").input_ids[0].tolist()
    vocab = tok.get_vocab()
    assert ids == [0, vocab["a"], vocab["b</w>"], vocab["7</w>"], 1]
    assert tok.model_max_length == 77
    enc = clip_text_encoder(len(tok), hidden_size=16, num_layers=1, num_heads=2, seed=3)
    again = clip_text_encoder(len(tok), hidden_size=16, num_layers=1, num_heads=2, seed=3)
    x = torch.tensor([ids])
    assert enc(x).last_hidden_state.shape == (1, 5, 16)
    assert torch.equal(enc(x).last_hidden_state, again(x).last_hidden_state)  # seeded
