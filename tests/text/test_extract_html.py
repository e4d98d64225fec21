"""extract on a saved statute web page: main text only, headings kept."""

from __future__ import annotations

from kazft.text.extract import document_articles, read_document

STATUTE_PAGE = """<!DOCTYPE html>
<html lang="kk"><head><meta charset="utf-8">
<title>Әкімшілік рәсімдік-процестік кодекс - Құқықтық актілер жүйесі</title>
<script>var menu = "1-бап. Сценарий мәтіні"; window.track = function () {};</script>
<style>.nav { color: red }</style></head>
<body>
<header><nav><ul>
  <li><a href="/">Басты бет</a></li><li><a href="/docs">Құжаттар іздеу</a></li>
  <li><a href="/ru">Русский</a></li><li><a href="/login">Кіру</a></li>
</ul></nav></header>
<div class="layout">
<aside class="sidebar"><h4>Жаңа актілер</h4><ul><li><a href="/a/1">Салық кодексі</a></li>
<li><a href="/a/2">Бюджет кодексі</a></li></ul></aside>
<main><article>
<h1>Қазақстан Республикасының Әкімшілік рәсімдік-процестік кодексі</h1>
<p>Қазақстан Республикасының 2020 жылғы 29 маусымдағы № 350-VI Кодексі.</p>
<h2>1-тарау. Негізгі ережелер</h2>
<h3>1-бап. Осы Кодекспен реттелетін қатынастар</h3>
<p>1. Осы Кодекс әкімшілік органдардың әкімшілік рәсімдерді жүзеге асыруына байланысты қатынастарды реттейді.</p>
<p>2. Осы Кодекс әкімшілік істер бойынша сот ісін жүргізу тәртібін белгілейді.</p>
<h3>2-бап. Қазақстан Республикасының әкімшілік рәсімдік-процестік заңнамасы</h3>
<p>Әкімшілік рәсімдік-процестік заңнама Қазақстан Республикасының Конституциясына негізделеді.</p>
<h3>3-бап. Заңдылық</h3>
<p>Әкімшілік орган, лауазымды адам және сот өз өкілеттіктері шегінде әрекет етеді.</p>
</article></main></div>
<footer><p>© 2024 Құқықтық ақпарат орталығы. Барлық құқықтар қорғалған.</p>
<a href="/contacts">Байланыс</a> <a href="/privacy">Құпиялылық саясаты</a></footer>
<script>console.log("3-бап. Футер скрипті");</script>
</body></html>
"""


def test_main_text_only_with_headings(tmp_path):
    page = tmp_path / "statute.html"
    page.write_text(STATUTE_PAGE, encoding="utf-8")
    doc = read_document(page)
    texts = [b.text for b in doc.blocks]
    assert texts[0] == "Қазақстан Республикасының Әкімшілік рәсімдік-процестік кодексі"
    assert "1-тарау. Негізгі ережелер" in texts
    assert "3-бап. Заңдылық" in texts
    joined = "\n".join(texts)
    for boilerplate in (
        "Басты бет",
        "Құжаттар іздеу",
        "Салық кодексі",
        "Сценарий",
        "Футер",
        "Барлық құқықтар",
        "Құпиялылық",
        "color",
    ):
        assert boilerplate not in joined, boilerplate
    assert len(texts) == 10
    assert doc.act_name() == "Қазақстан Республикасының Әкімшілік рәсімдік-процестік кодексі"
    articles = list(document_articles(doc))
    assert [a["article"] for a in articles] == [None, "1", "2", "3"]
    assert articles[1]["chapter"] == "1-тарау. Негізгі ережелер"
    assert articles[1]["act"] == doc.act_name()
    assert articles[3]["text"] == (
        "3-бап. Заңдылық\n"
        "Әкімшілік орган, лауазымды адам және сот өз өкілеттіктері шегінде әрекет етеді."
    )


def test_cp1251_page_declared_in_meta(tmp_path):
    page = tmp_path / "old.htm"
    russian = (
        '<html><head><meta charset="windows-1251"><title>Кодекс</title></head><body>'
        "<main><h1>Гражданский кодекс</h1><h2>Статья 1. Основные начала</h2>"
        "<p>Гражданское законодательство основывается на признании равенства участников "
        "регулируемых им отношений и неприкосновенности собственности.</p></main></body></html>"
    )
    page.write_bytes(russian.encode("cp1251"))
    texts = [b.text for b in read_document(page).blocks]
    assert texts[:2] == ["Гражданский кодекс", "Статья 1. Основные начала"]
