# ruff: noqa: RUF001 - Chinese text uses full-width punctuation
"""Evaluation smoke test, on Postgres: a small FAQ in each language (written for these tests,
in the shape of the public sets bench/kb_retrieval.py measures: the article's title is the
FAQ question), and customer questions worded differently. The ranking must put the right
article first. The full figures: docs/knowledge-base.md, "Evaluation"."""

import pytest

from chatbot.knowledge.retrieval import knowledge_search
from chatbot.knowledge.services import article_save

pytestmark = pytest.mark.django_db

# Every answer mentions "order": a word that is everywhere must not decide the ranking.
FAQ_EN = {
    "How long does delivery take?": "Your order ships within a day; standard delivery takes "
    "3 to 5 business days, express delivery one day. Order tracking is in your account.",
    "How do I return an item?": "Start a return from the order page within 30 days. Print the "
    "label, pack the item in its original box and drop the parcel at any post office.",
    "When will I get my refund?": "Once the returned order reaches our warehouse we refund "
    "the original payment method within 5 days; banks may take a few more days.",
    "Can I change or cancel my order?": "An order can be changed or cancelled until it is "
    "packed, usually within an hour of ordering. After that, return it instead.",
    "Where can I download an invoice?": "Every order has a PDF invoice on the order page of "
    "your account; business customers can add a VAT number before ordering.",
    "How do I reset my password?": "Use 'Forgot password' on the sign-in page; we email a "
    "link that is valid for one hour. Your orders and addresses are kept.",
    "Which payment methods do you accept?": "We accept cards, PayPal and bank transfer for "
    "every order. Cash on delivery is not available.",
    "Do you ship internationally?": "We ship orders to the EU, the UK and Switzerland; duties "
    "outside the EU are paid on delivery by the recipient.",
}
QUESTIONS_EN = [
    ("my package still hasn't arrived, how many days is shipping?", "How long does delivery take?"),
    ("how can I send an item back that doesn't fit?", "How do I return an item?"),
    ("how long until my refund shows up?", "When will I get my refund?"),
    ("I need a VAT invoice for my company", "Where can I download an invoice?"),
    ("forgot my password and can't log in", "How do I reset my password?"),
    ("can I pay with paypal?", "Which payment methods do you accept?"),
    ("do you deliver to the UK?", "Do you ship internationally?"),
    ("I ordered the wrong size, can I still cancel it?", "Can I change or cancel my order?"),
]

FAQ_ZH = {
    "配送需要多长时间？": "订单一般24小时内发货，普通快递3到5个工作日送达，加急配送次日送达。",
    "怎么申请退货？": "在订单页面申请退货，30天内有效。请用原包装寄回商品。",
    "退款什么时候到账？": "仓库收到退回的商品后，5个工作日内原路退款。",
    "订单可以修改或取消吗？": "订单在打包前可以修改或取消，打包后请走退货流程。",
    "在哪里下载发票？": "每个订单的电子发票都可以在账户的订单页面下载。",
    "忘记密码怎么办？": "在登录页点击“忘记密码”，我们会发送一小时内有效的重置链接。",
    "支持哪些付款方式？": "支持银行卡、支付宝和微信支付，不支持货到付款。",
    "可以寄到国外吗？": "我们可以寄到欧盟、英国和瑞士，关税由收件人支付。",
}
QUESTIONS_ZH = [
    ("快递几天能到？", "配送需要多长时间？"),
    ("衣服不合适，想退货", "怎么申请退货？"),
    ("退的钱多久能收到", "退款什么时候到账？"),
    ("公司报销需要开发票", "在哪里下载发票？"),
    ("密码忘了登录不了", "忘记密码怎么办？"),
    ("能用微信付款吗", "支持哪些付款方式？"),
    ("下错单了还能取消吗", "订单可以修改或取消吗？"),
    ("能不能寄到英国", "可以寄到国外吗？"),
]


def _load(faq: dict[str, str], language: str) -> None:
    for title, body in faq.items():
        article_save(title=title, body=body, language=language, tags=["faq"])


@pytest.mark.parametrize("segmenter", ["jieba", "bigram"])
def test_each_question_finds_its_faq_first_in_both_languages(settings, segmenter):
    settings.KNOWLEDGE_CHINESE_SEGMENTER = segmenter
    _load(FAQ_EN, "en")
    _load(FAQ_ZH, "zh")
    for question, expected in QUESTIONS_EN + QUESTIONS_ZH:
        hits = knowledge_search(query=question, widget_key_id=None, limit=3)
        assert hits, question
        assert hits[0].title == expected, (question, [h.title for h in hits])


def test_an_english_question_does_not_rank_chinese_articles_and_vice_versa():
    _load(FAQ_EN, "en")
    _load(FAQ_ZH, "zh")
    english = knowledge_search(query="refund for my return", widget_key_id=None, limit=10)
    chinese = knowledge_search(query="退款多久到账", widget_key_id=None, limit=10)
    assert english and all(h.title in FAQ_EN for h in english)
    assert chinese and all(h.title in FAQ_ZH for h in chinese)
