"""SentencePiece training (`train_sentencepiece`) and the wrapper the pipeline encodes with (`Tokenizer`)."""

from tokenizer.train import TokenizerTrainConfig, train_sentencepiece
from tokenizer.wrapper import Tokenizer

__all__ = ["Tokenizer", "TokenizerTrainConfig", "train_sentencepiece"]
