"""The report's Markdown-to-HTML: every construct the sections write, escaping, the page frame."""

import pandas as pd

from probmodels.report import markdown_table, markdown_to_html, render_page


def test_table_from_markdown_table_keeps_every_cell():
    frame = pd.DataFrame({"mean": [1.23456, -2.0], "ok": [True, False]},
                         index=pd.Index(["mu", "phi[1]"], name="parameter"))
    assert markdown_to_html(markdown_table(frame, digits=2)) == (
        "<table>\n<thead><tr><th>parameter</th><th>mean</th><th>ok</th></tr></thead>\n<tbody>\n"
        "<tr><td>mu</td><td>1.23</td><td>yes</td></tr>\n"
        "<tr><td>phi[1]</td><td>-2.00</td><td>no</td></tr>\n</tbody>\n</table>")


def test_text_is_escaped_before_markup_so_no_text_becomes_a_tag():
    html = markdown_to_html("a <script>alert(1)</script> & `x < y` **b**")
    assert html == ("<p>a &lt;script&gt;alert(1)&lt;/script&gt; &amp; <code>x &lt; y</code> "
                    "<strong>b</strong></p>")


def test_code_spans_are_not_marked_up():
    assert markdown_to_html("`**not bold** [x](y)`") == "<p><code>**not bold** [x](y)</code></p>"


def test_figure_with_code_caption_and_brackets_in_its_text():
    html = markdown_to_html('![samples E[x | z], "mean"](vae/samples.png)\n`fit.plot_samples(64)`')
    assert html == ('<figure><img src="vae/samples.png" alt="samples E[x | z], &quot;mean&quot;">'
                    '<figcaption>samples E[x | z], "mean"<br><code>fit.plot_samples(64)</code>'
                    "</figcaption></figure>")


def test_images_on_one_line_are_figures_and_links_are_anchors():
    html = markdown_to_html("![a](d/a.png) ![b c](d/b.png)\n\nsee [d/m.json](d/m.json).")
    assert html == ('<figure><img src="d/a.png" alt="a"><figcaption>a</figcaption></figure>'
                    '<figure><img src="d/b.png" alt="b c"><figcaption>b c</figcaption></figure>\n'
                    '<p>see <a href="d/m.json">d/m.json</a>.</p>')


def test_headings_lists_code_blocks_and_verdicts():
    text = ("### Fit\n\n- one\n  continued\n- two\n\n```\nprobmodels report a <b>\n```\n\n"
            "> **converged:** all fine.\n\n> **look again:** R-hat 1.2 > 1.01.")
    assert markdown_to_html(text).splitlines() == [
        "<h3>Fit</h3>",
        "<ul>", "<li>one continued</li>", "<li>two</li>", "</ul>",
        "<pre><code>probmodels report a &lt;b&gt;</code></pre>",
        '<div class="verdict"><strong>converged:</strong> all fine.</div>',
        '<div class="verdict warn"><strong>look again:</strong> R-hat 1.2 &gt; 1.01.</div>',
    ]


def test_page_has_inline_css_no_script_and_a_section_each():
    page = render_page("T <1>", "`cmd`", [("A", "one"), ("B", "two")])
    assert page.startswith("<!DOCTYPE html>") and "<title>T &lt;1&gt;</title>" in page
    assert "<style>" in page and "<script" not in page and "<link" not in page
    assert "://" not in page  # nothing fetched from anywhere
    assert '<section id="section-1">\n<h2>A</h2>\n<p>one</p>\n</section>' in page
    assert '<li><a href="#section-2">B</a></li>' in page
