from gongkai_cli.units import split_units


def test_split_keeps_order_so_the_first_unit_leads():
    assert split_units("区政府办公室、区财政局、各街镇") == ("区政府办公室", "区财政局", "各街镇")


def test_split_accepts_commas_and_drops_blanks_and_repeats():
    assert split_units("区财政局，区审计局,区财政局、 、区 教育局") == ("区财政局", "区审计局", "区教育局")


def test_unit_names_with_brackets_stay_whole():
    assert split_units("区行政服务中心（区大数据中心）、区城运中心") == (
        "区行政服务中心（区大数据中心）",
        "区城运中心",
    )


def test_empty_cell_has_no_units():
    assert split_units("") == ()
