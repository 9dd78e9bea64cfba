"""Build the knowledge-base evaluation sets (English and Chinese) from their published sources.

    .venv/bin/python bench/data/kb/prepare.py            # download (pinned commits)
    .venv/bin/python bench/data/kb/prepare.py --raw DIR  # or read the raw files from DIR

The raw files are not committed (see README.md beside this file: licences and where they
come from); this script downloads them at pinned commits, checks their SHA-256, and writes
four JSON Lines files into bench/data/kb/build/ (ignored by git):

* ``en.articles.jsonl`` / ``en.questions.jsonl``: the test split is COVID-Q (questions
  people asked on Quora, Yahoo Answers and search engines, each against the FAQ-page entry
  of its question class); the tune split is deepset's COVID-QA FAQ (CDC, ECDC, WHO,
  UNICEF... English answers) and deepset's human paraphrases of those FAQ questions;
* ``zh.articles.jsonl`` / ``zh.questions.jsonl``: the Tianchi 2020 COVID "similar patient
  questions" set (DAMO Academy and Miao Health): each distinct ``query1`` (a real patient
  question) is an FAQ entry, tagged with its disease category; the ``query2`` labelled as the
  same question are the questions to retrieve it with. The ``dev`` split is the test set;
  ``train`` is kept apart as ``split: "tune"`` for tuning the ranking.

English has a second test set, ``split: "test-support"``: HINT3 (Haptik, 2020), messages
customers typed into three live customer-service chatbots (a mattress shop, an online
pharmacy, a fantasy-sports app), each labelled with the bot's FAQ entry (intent) it asks
for; an article is one entry: its name and the wordings the bot's builders gave it.

An article line: ``{"id", "title", "body", "tags", "url", "split"}``; a question line:
``{"question", "answers": [article ids], "split"}``.
"""

import argparse
import csv
import hashlib
import json
import re
import sys
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
BUILD = HERE / "build"

DEEPSET = (
    "https://raw.githubusercontent.com/deepset-ai/COVID-QA/fb2eb5e249618457e5359806601086c635c8eb8f"
)
COVID_Q = (
    "https://raw.githubusercontent.com/JerryWeiAI/COVID-Q/73dfa475e8a03c5c74223c2c37d85b87fae7dca7"
)
HINT3 = (
    "https://raw.githubusercontent.com/hellohaptik/HINT3/99965c892ea9a6801a87083d3861b0b04c91a4e7"
)
TIANCHI = "https://raw.githubusercontent.com/anxiang1836/query_similar_tianchi_2020/6d55c92dc57188d7c986f91d0e2cd569bc4ab6d3"

# local name -> (url, sha256)
RAW_FILES = {
    "deepset_faq_covidbert.csv": (
        f"{DEEPSET}/data/faqs/faq_covidbert.csv",
        "ba7e37cada23dc63fbdb7af7b0c9245773b65f3e3bb0d9fec45cc7bfa057b389",
    ),
    "deepset_faq_200327.tsv": (
        f"{DEEPSET}/data/faqs/faq_200327.tsv",
        "b7e49a5cbb13f466073e05b4896f05306e2ac49cab304bc43b1d03c89a8b1dc3",
    ),
    "deepset_eval_question_similarity_en.csv": (
        f"{DEEPSET}/data/eval_question_similarity_en.csv",
        "d05db6d394aa6f97e122e97144867d4f67d0234e16f11030e1a84751b92e6ce1",
    ),
    "covidq_final_master_dataset.csv": (
        f"{COVID_Q}/final_master_dataset.csv",
        "4de0989656bb3a8a52bc1215ef73e6f498405036c91fcf9d30c61bc704f6f089",
    ),
    "hint3_sofmattress_train.csv": (
        f"{HINT3}/dataset/v2/train/sofmattress_train.csv",
        "0addf4dc4b9df1e71509da5318d5a9f6e9a5d6eb98b9584d55cab3da7badf4b1",
    ),
    "hint3_sofmattress_test.csv": (
        f"{HINT3}/dataset/v2/test/sofmattress_test.csv",
        "9c4746f7cf445b5db276260e1c05b9e7b102fa2bca0ce1ace20f51df0ba53aae",
    ),
    "hint3_curekart_train.csv": (
        f"{HINT3}/dataset/v2/train/curekart_train.csv",
        "99620b357d20801cbbebe2823d606d1afecd9414074d97a7386aaf2493f8911f",
    ),
    "hint3_curekart_test.csv": (
        f"{HINT3}/dataset/v2/test/curekart_test.csv",
        "47bf651cafa8b8f476ca4bea3052ee9a29c5bc6a4d841f2162f12ad16064f5a0",
    ),
    "hint3_powerplay11_train.csv": (
        f"{HINT3}/dataset/v2/train/powerplay11_train.csv",
        "16847d06e62244ef902fe62a61261e8daec61d14335e535fcddf1752a8c8449b",
    ),
    "hint3_powerplay11_test.csv": (
        f"{HINT3}/dataset/v2/test/powerplay11_test.csv",
        "a2d5d03202e8ca116444162560647d0a7633c622fa782c09fe5cb7e196d462a9",
    ),
    "tianchi_train.csv": (
        f"{TIANCHI}/jupyter/origin-data/train.csv",
        "3ae2eba3d2c88bf79bf2b674b8c597e01ad6caa01e968f1a6c09b240dfbfad90",
    ),
    "tianchi_dev.csv": (
        f"{TIANCHI}/jupyter/origin-data/dev.csv",
        "a11c46d557ef95c5baf03486a262547438aab5c4413ed3a8c77ad154de4628b1",
    ),
}


def _normalise(question: str) -> str:
    return re.sub(r"\s+", " ", question).strip().lower()


def raw_bytes(name: str, raw_dir: Path | None) -> bytes:
    url, sha256 = RAW_FILES[name]
    if raw_dir is not None:
        data = (raw_dir / name).read_bytes()
    else:
        if not url.startswith("https://"):
            raise ValueError(url)
        with urllib.request.urlopen(url, timeout=60) as response:  # nosec B310 - https only, pinned
            data = response.read()
    digest = hashlib.sha256(data).hexdigest()
    if digest != sha256:
        raise SystemExit(f"{name}: SHA-256 {digest} is not the pinned {sha256}")
    return data


def _rows(data: bytes, delimiter: str = ",") -> list[dict[str, str]]:
    csv.field_size_limit(sys.maxsize)
    return list(csv.DictReader(data.decode("utf-8").splitlines(keepends=True), delimiter=delimiter))


# COVID-Q's sources: where people asked (the questions) and the FAQ pages (the articles).
COVID_Q_ASKED = {"Quora", "Google Search", "Yahoo Search", "Bing Search", "Yahoo Answers"}
COVID_Q_FAQ_PAGES = {
    "Center for Disease Control",
    "Food and Drug Administration",
    "United Nations",
    "John Hopkins University",
    "Illinois Department of Public Health",
    "Cable News Network",
    "Washington DC Area Television Station",
    "GitHub.com/deepset-ai/COVID-QA",
}


def english(raw_dir: Path | None) -> tuple[list[dict], list[dict]]:
    """Test split: COVID-Q (questions people asked Quora and search engines, against FAQ
    pages' entries of the same class). Tune split: deepset's FAQ and its paraphrases.
    Test-support split: HINT3 (customers' messages to three live support chatbots)."""
    test_articles, test_questions = english_covid_q(raw_dir)
    tune_articles, tune_questions = english_deepset(raw_dir)
    support_articles, support_questions = english_hint3(raw_dir)
    return (
        test_articles + tune_articles + support_articles,
        test_questions + tune_questions + support_questions,
    )


HINT3_BOTS = {
    "sofmattress": "SOF Mattress (mattress shop)",
    "curekart": "Curekart (online pharmacy and health shop)",
    "powerplay11": "Powerplay11 (fantasy sports app)",
}
HINT3_OUT_OF_SCOPE = "NO_NODES_DETECTED"  # a message no FAQ entry answers: not a question here


def english_hint3(raw_dir: Path | None) -> tuple[list[dict], list[dict]]:
    """HINT3 v2: one article per bot intent (its name, then the wordings its builders gave
    it, one a line); the questions are the test messages labelled with an intent."""
    articles, questions = [], []
    for bot, shop in HINT3_BOTS.items():
        wordings: dict[str, list[str]] = {}
        for row in _rows(raw_bytes(f"hint3_{bot}_train.csv", raw_dir)):
            sentence = row["sentence"].strip()
            if sentence:
                wordings.setdefault(row["label"].strip(), []).append(sentence)
        by_intent, known = {}, set()
        for intent, lines in wordings.items():
            article_id = f"en-s-{bot}-{intent.lower()}"
            by_intent[intent] = article_id
            known |= {_normalise(line) for line in lines}
            articles.append(
                {
                    "id": article_id,
                    "title": intent.replace("_", " ").capitalize(),
                    "body": "\n".join(dict.fromkeys(lines)),
                    "tags": [shop],
                    "url": "",
                    "split": "test-support",
                }
            )
        answers: dict[str, list[str]] = {}
        for row in _rows(raw_bytes(f"hint3_{bot}_test.csv", raw_dir)):
            question, intent = row["sentence"].strip(), row["label"].strip()
            if intent == HINT3_OUT_OF_SCOPE or not question or _normalise(question) in known:
                continue  # out of scope, or word for word one of its bot's own wordings
            answers.setdefault(question, []).append(by_intent[intent])
        questions += [
            {"question": q, "answers": sorted(set(a)), "split": "test-support"}
            for q, a in answers.items()
        ]
    return articles, questions


def english_covid_q(raw_dir: Path | None) -> tuple[list[dict], list[dict]]:
    rows = _rows(raw_bytes("covidq_final_master_dataset.csv", raw_dir).lstrip(b"\xef\xbb\xbf"))
    classes: dict[str, list[dict]] = {}
    for row in rows:
        classes.setdefault(row["Question ID"], []).append(row)
    articles, questions, seen = [], [], set()
    for class_id, members in classes.items():
        faq = [r for r in members if r["Source"] in COVID_Q_FAQ_PAGES]
        answer = members[0]["Answers"].strip()  # one answer per class
        if not faq or not answer:
            continue  # no FAQ page asked it, or no answer: not an article
        article_id = f"en-q-{int(class_id):04d}"
        title = faq[0]["Question"].strip()
        # Other FAQ pages' wording of the same question, as a help centre lists them.
        also = [q for q in dict.fromkeys(r["Question"].strip() for r in faq[1:]) if q != title]
        body = answer + (f"\n\nAlso asked: {'; '.join(also)}" if also else "")
        articles.append(
            {
                "id": article_id,
                "title": title,
                "body": body,
                "tags": [members[0]["Category"].strip(), faq[0]["Source"].strip()],
                "url": "",
                "split": "test",
            }
        )
        for row in members:
            question = row["Question"].strip()
            if row["Source"] not in COVID_Q_ASKED or (question, article_id) in seen:
                continue
            seen.add((question, article_id))
            questions.append({"question": question, "answers": [article_id], "split": "test"})
    return articles, questions


def english_deepset(raw_dir: Path | None) -> tuple[list[dict], list[dict]]:
    pool = _rows(raw_bytes("deepset_faq_covidbert.csv", raw_dir))
    pool += [
        row
        for row in _rows(raw_bytes("deepset_faq_200327.tsv", raw_dir), delimiter="\t")
        if row["lang"] == "en"
    ]
    articles, by_question = [], {}
    for row in pool:
        key = _normalise(row["question"])
        if not key or not row["answer"].strip() or key in by_question:
            continue  # the two scrapes overlap: the first copy of a question wins
        article_id = f"en-{len(articles) + 1:04d}"
        by_question[key] = article_id
        tags = [t for t in (row.get("category", "").strip(), row["source"].strip()) if t]
        articles.append(
            {
                "id": article_id,
                "title": row["question"].strip(),
                "body": row["answer"].strip(),
                "tags": tags,
                "url": row["link"].strip(),
                "split": "tune",
            }
        )
    questions, seen = [], set()
    for row in _rows(raw_bytes("deepset_eval_question_similarity_en.csv", raw_dir)):
        if row["similar"] != "1":
            continue
        answer = by_question.get(_normalise(row["question_1"]))
        question = row["question_2"].strip()
        if answer is None or (question, answer) in seen:
            continue
        seen.add((question, answer))
        questions.append({"question": question, "answers": [answer], "split": "tune"})
    return articles, questions


def chinese(raw_dir: Path | None) -> tuple[list[dict], list[dict]]:
    splits = {
        "tune": _rows(raw_bytes("tianchi_train.csv", raw_dir)),
        "test": _rows(raw_bytes("tianchi_dev.csv", raw_dir)),
    }
    articles, by_question = [], {}
    for split, rows in splits.items():
        for row in rows:
            key = row["query1"].strip()
            if key in by_question:
                continue
            article_id = f"zh-{len(articles) + 1:04d}"
            by_question[key] = article_id
            # The set has the patient questions, not answers: the FAQ entry is its question.
            # Each split is its own FAQ (the splits share no query1).
            articles.append(
                {
                    "id": article_id,
                    "title": key,
                    "body": key,
                    "tags": [row["category"]],
                    "url": "",
                    "split": split,
                }
            )
    questions = []
    for split, rows in splits.items():
        answers: dict[str, list[str]] = {}
        for row in rows:
            question = row["query2"].strip()
            if row["label"] != "1" or question == row["query1"].strip():
                continue  # a "paraphrase" identical to the FAQ question tests nothing
            answers.setdefault(question, []).append(by_question[row["query1"].strip()])
        questions += [
            {"question": q, "answers": sorted(set(a)), "split": split} for q, a in answers.items()
        ]
    return articles, questions


def _write(path: Path, records: list[dict]) -> None:
    with path.open("w", encoding="utf-8") as out:
        for record in records:
            out.write(json.dumps(record, ensure_ascii=False) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--raw", type=Path, help="read the raw files from this folder")
    parser.add_argument("--out", type=Path, default=BUILD, help="write here (default: build/)")
    args = parser.parse_args()
    args.out.mkdir(exist_ok=True)
    for language, build in (("en", english), ("zh", chinese)):
        articles, questions = build(args.raw)
        _write(args.out / f"{language}.articles.jsonl", articles)
        _write(args.out / f"{language}.questions.jsonl", questions)
        by_split = {}
        for q in questions:
            by_split[q["split"]] = by_split.get(q["split"], 0) + 1
        print(f"{language}: {len(articles)} articles, questions {by_split}")


if __name__ == "__main__":
    main()
