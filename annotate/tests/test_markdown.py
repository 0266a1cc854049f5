from annotate.markdown import render_markdown


def test_a_fenced_code_block_keeps_its_language_and_shows_html_inside_it_as_text() -> None:
    html = render_markdown('```python\nprint("<b>hi</b>")\n```')
    assert html == (
        '<pre><code class="language-python">print("&lt;b&gt;hi&lt;/b&gt;")\n</code></pre>'
    )


def test_raw_html_is_shown_as_text_and_dangerous_links_lose_their_target() -> None:
    html = render_markdown(
        "Hi <script>alert(1)</script> <img src=x onerror=alert(1)> [go](javascript:alert(1))"
    )
    assert html == (
        "<p>Hi &lt;script&gt;alert(1)&lt;/script&gt; &lt;img src=x onerror=alert(1)&gt; "
        '<a rel="noopener noreferrer nofollow">go</a></p>'
    )


def test_an_image_is_not_loaded_but_shown_as_a_link_with_its_alt_text() -> None:
    html = render_markdown("See ![a cat](https://example.org/cat.png) and ![](ftp://x/y.png)")
    assert html == (
        '<p>See <a href="https://example.org/cat.png" rel="noopener noreferrer nofollow">'
        "[image: a cat]</a> and "
        '<a rel="noopener noreferrer nofollow">[image: no description]</a></p>'
    )


def test_lists_and_tables_render() -> None:
    html = render_markdown("- one\n- two\n\n| a | b |\n|---|---|\n| 1 | 2 |")
    assert "<ul>\n<li>one</li>\n<li>two</li>\n</ul>" in html
    assert "<td>1</td>" in html and "<th>a</th>" in html
