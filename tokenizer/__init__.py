"""SentencePiece training (`train_sentencepiece`, sampling in `draw`) and the wrapper the pipeline encodes
with (`Tokenizer`)."""

from tokenizer.train import CuratedDoc, TokenizerTrainConfig, TokenizerTrainError, draw, train_sentencepiece
from tokenizer.wrapper import Tokenizer

__all__ = ["CuratedDoc", "Tokenizer", "TokenizerTrainConfig", "TokenizerTrainError", "draw", "train_sentencepiece"]
