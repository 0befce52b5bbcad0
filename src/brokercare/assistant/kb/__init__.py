"""The knowledge base: FAQ import, retrieval by meaning, and the paraphrase matcher behind both.

A query and a candidate question are compared on the similarities in ``matching.FEATURES``, fused
by a logistic regression trained on the shipped paraphrase data:

1. BM25 over finance-aware words (each word also standing for its synonym group, 入金 ≈ 转入) and
   over character bigrams (typos, unsegmented names), in both directions;
2. cosine of TF-IDF vectors (words + character n-grams) and of their LSA embeddings;
3. the intent model's view: Bhattacharyya similarity and margin cosine of the two intent
   distributions ("钱咋还没到" and "转账显示成功但钱没到怎么办" share no words, but the intent);
4. the *concept model*: a linear classifier over the ~200 FAQ questions, taught by ~1,500
   customer paraphrases (``faq_paraphrases.csv``) and the answers' first sentences — a small
   learned sentence embedding in which paraphrases land together; imported questions join it as
   new concepts;
5. evidence of difference: finance topics discussed with different terms, and members of a
   contrast group (``synonyms.yaml``: 融资/融券, 转入/转出, 交易密码/资金密码 …) on either side;
6. lexical overlap weighted by concept agreement, because shared words mean opposite things for
   two questions about the same concept and for two that only look alike.

Modules: ``lexical`` (surface views and BM25), ``corpus`` (the shipped texts), ``matching`` (the
model: encodings, the three comparison paths, the feature stack), ``training`` (how the fusion
learns; the process-wide matcher), ``store`` (the searchable FAQ), ``faq_import``, ``evaluation``.
The names below are what the rest of the assistant uses.
"""

from brokercare.assistant.kb.corpus import starter_faq
from brokercare.assistant.kb.evaluation import evaluate_pairs
from brokercare.assistant.kb.faq_import import ImportResult, import_entries, parse_faq_file
from brokercare.assistant.kb.matching import FEATURES, Matcher
from brokercare.assistant.kb.store import KbHit, KnowledgeBase, knowledge_base, question_key
from brokercare.assistant.kb.training import get_matcher

__all__ = ["FEATURES", "ImportResult", "KbHit", "KnowledgeBase", "Matcher", "evaluate_pairs", "get_matcher",
           "import_entries", "knowledge_base", "parse_faq_file", "question_key", "starter_faq"]
