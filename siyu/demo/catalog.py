"""The demo brand 青禾 (a Chinese skincare label): products, shops, places, names.

Everything here is plain data. Prices are list prices in fen as a Tmall flagship
store would show them in 2025; costs are landed cost of goods (about a quarter of
the price, typical for mass-premium skincare).
"""

from __future__ import annotations

from dataclasses import dataclass

BRAND = "青禾"
BRAND_PINYIN = "QINGHE"
WORKSPACE_SLUG = "qinghe"
WORKSPACE_NAME = "青禾 QINGHE 护肤"


@dataclass(frozen=True)
class Product:
    """One sellable SKU."""

    sku: str  # 商家编码 / 外部系统编号
    product_id: str  # platform item id (宝贝 id)
    title: str
    spec: str
    category: str
    price_fen: int
    cost_fen: int
    # Relative popularity inside its category and whether it is an entry product
    # (what a first-time buyer tries) or a gift set (festival sales).
    weight: float = 1.0
    entry: bool = False
    gift_set: bool = False

    @property
    def full_title(self) -> str:
        """The listing title as buyers see it on the platforms."""
        return f"{BRAND}{self.title} {self.spec}"


# fmt: off
PRODUCTS: tuple[Product, ...] = (
    Product(
        "QH-CL-001", "690123451001", "氨基酸温和洁面乳",
        "120g", "洁面", 8900, 1900, 3.0, entry=True,
    ),
    Product(
        "QH-CL-002", "690123451002", "净澈控油洁面慕斯",
        "150ml", "洁面", 9900, 2200, 1.5, entry=True,
    ),
    Product(
        "QH-TL-001", "690123452001", "保湿柔肤水",
        "150ml", "水乳", 13900, 3100, 2.0,
    ),
    Product(
        "QH-TL-002", "690123452002", "保湿修护乳",
        "120ml", "水乳", 14900, 3300, 1.8,
    ),
    Product(
        "QH-TL-003", "690123452003", "保湿水乳套装",
        "水150ml+乳120ml", "水乳", 26800, 6300, 2.2,
    ),
    Product(
        "QH-SE-001", "690123453001", "烟酰胺焕亮精华液",
        "30ml", "精华", 25900, 5200, 2.5,
    ),
    Product(
        "QH-SE-002", "690123453002", "玻色因紧致精华",
        "30ml", "精华", 36900, 7800, 1.6,
    ),
    Product(
        "QH-SE-003", "690123453003", "积雪草舒缓修护精华",
        "30ml", "精华", 22900, 4700, 1.4,
    ),
    Product(
        "QH-CR-001", "690123454001", "积雪草修护面霜",
        "50g", "面霜", 22900, 4900, 2.0,
    ),
    Product(
        "QH-CR-002", "690123454002", "玻色因抗皱面霜",
        "50g", "面霜", 39900, 8600, 1.2,
    ),
    Product(
        "QH-CR-003", "690123454003", "紧致淡纹眼霜",
        "15g", "面霜", 25900, 5300, 1.0,
    ),
    Product(
        "QH-SU-001", "690123455001", "清透水感防晒乳 SPF50+ PA++++",
        "50ml", "防晒", 13900, 2800, 2.6, entry=True,
    ),
    Product(
        "QH-SU-002", "690123455002", "户外防晒喷雾 SPF50+",
        "150ml", "防晒", 11900, 2600, 1.3, entry=True,
    ),
    Product(
        "QH-MK-001", "690123456001", "玻尿酸补水面膜",
        "10片/盒", "面膜", 9900, 2100, 2.8, entry=True,
    ),
    Product(
        "QH-MK-002", "690123456002", "积雪草修护面膜",
        "5片/盒", "面膜", 7900, 1600, 2.0, entry=True,
    ),
    Product(
        "QH-MK-003", "690123456003", "清洁泥膜",
        "100g", "面膜", 12900, 2700, 1.0,
    ),
    Product(
        "QH-GS-001", "690123457001", "焕亮修护护肤礼盒",
        "精华30ml+面霜50g+面膜5片", "礼盒", 59900, 13200, 1.5, gift_set=True,
    ),
    Product(
        "QH-GS-002", "690123457002", "保湿入门体验装",
        "洁面30g+水30ml+乳30ml", "礼盒", 5900, 1500, 1.0, entry=True,
    ),
)
# fmt: on

CATEGORIES: tuple[str, ...] = ("洁面", "水乳", "精华", "面霜", "防晒", "面膜", "礼盒")


@dataclass(frozen=True)
class Shop:
    """A store the brand sells through."""

    key: str
    platform: str  # the ``platform`` value orders carry: taobao | douyin | youzan | offline
    name: str
    shop_id: str
    # For offline stores: the city the store is in (buyers are mostly local).
    province: str | None = None
    city: str | None = None


SHOPS: dict[str, Shop] = {
    "tmall": Shop("tmall", "taobao", "青禾官方旗舰店", "178392011"),
    "douyin": Shop("douyin", "douyin", "青禾护肤官方旗舰店", "58624019"),
    "youzan": Shop("youzan", "youzan", "青禾会员商城", "44128760"),
    "store_hz": Shop("store_hz", "offline", "青禾·杭州湖滨银泰in77店", "HZ01", "浙江省", "杭州市"),
    "store_sh": Shop("store_sh", "offline", "青禾·上海静安嘉里中心店", "SH01", "上海市", "上海市"),
    "store_cd": Shop("store_cd", "offline", "青禾·成都太古里店", "CD01", "四川省", "成都市"),
}

# (province, city, weight, districts). Weights follow where online beauty spend is:
# Guangdong, Zhejiang, Jiangsu, Shanghai and Beijing lead by a wide margin.
CITIES: tuple[tuple[str, str, float, tuple[str, ...]], ...] = (
    ("广东省", "深圳市", 5.5, ("南山区", "福田区", "宝安区", "龙岗区", "罗湖区")),
    ("广东省", "广州市", 5.5, ("天河区", "海珠区", "越秀区", "白云区", "番禺区")),
    ("广东省", "东莞市", 2.0, ("南城街道", "东城街道", "长安镇")),
    ("广东省", "佛山市", 1.8, ("禅城区", "南海区", "顺德区")),
    ("上海市", "上海市", 7.5, ("浦东新区", "徐汇区", "静安区", "闵行区", "长宁区", "杨浦区")),
    ("北京市", "北京市", 6.5, ("朝阳区", "海淀区", "东城区", "西城区", "丰台区", "通州区")),
    ("浙江省", "杭州市", 5.0, ("西湖区", "拱墅区", "滨江区", "余杭区", "上城区")),
    ("浙江省", "宁波市", 1.8, ("鄞州区", "海曙区", "江北区")),
    ("浙江省", "温州市", 1.3, ("鹿城区", "瓯海区", "龙湾区")),
    ("江苏省", "苏州市", 3.2, ("姑苏区", "工业园区", "吴中区", "昆山市")),
    ("江苏省", "南京市", 3.0, ("鼓楼区", "玄武区", "建邺区", "江宁区")),
    ("江苏省", "无锡市", 1.3, ("梁溪区", "滨湖区", "新吴区")),
    ("四川省", "成都市", 4.0, ("锦江区", "武侯区", "高新区", "成华区", "青羊区")),
    ("重庆市", "重庆市", 2.6, ("渝北区", "江北区", "渝中区", "南岸区")),
    ("湖北省", "武汉市", 2.8, ("武昌区", "洪山区", "江汉区", "汉阳区")),
    ("湖南省", "长沙市", 2.0, ("岳麓区", "天心区", "开福区", "雨花区")),
    ("福建省", "厦门市", 1.5, ("思明区", "湖里区", "集美区")),
    ("福建省", "福州市", 1.4, ("鼓楼区", "台江区", "仓山区")),
    ("山东省", "青岛市", 1.6, ("市南区", "崂山区", "黄岛区")),
    ("山东省", "济南市", 1.3, ("历下区", "市中区", "槐荫区")),
    ("河南省", "郑州市", 1.8, ("金水区", "二七区", "郑东新区")),
    ("陕西省", "西安市", 1.8, ("雁塔区", "碑林区", "未央区")),
    ("天津市", "天津市", 1.5, ("南开区", "和平区", "河西区")),
    ("安徽省", "合肥市", 1.3, ("蜀山区", "包河区", "政务区")),
    ("辽宁省", "沈阳市", 1.0, ("和平区", "沈河区", "浑南区")),
    ("辽宁省", "大连市", 0.9, ("中山区", "沙河口区", "甘井子区")),
    ("云南省", "昆明市", 0.9, ("五华区", "盘龙区", "官渡区")),
    ("广西壮族自治区", "南宁市", 0.8, ("青秀区", "西乡塘区", "良庆区")),
    ("江西省", "南昌市", 0.8, ("红谷滩区", "东湖区", "西湖区")),
    ("黑龙江省", "哈尔滨市", 0.7, ("南岗区", "道里区", "香坊区")),
    ("贵州省", "贵阳市", 0.6, ("观山湖区", "云岩区", "南明区")),
    ("海南省", "海口市", 0.5, ("龙华区", "美兰区")),
    ("新疆维吾尔自治区", "乌鲁木齐市", 0.4, ("天山区", "沙依巴克区")),
)

POSTCODES: dict[str, str] = {
    "深圳市": "518000", "广州市": "510000", "东莞市": "523000", "佛山市": "528000",
    "上海市": "200000", "北京市": "100000", "杭州市": "310000", "宁波市": "315000",
    "温州市": "325000", "苏州市": "215000", "南京市": "210000", "无锡市": "214000",
    "成都市": "610000", "重庆市": "400000", "武汉市": "430000", "长沙市": "410000",
    "厦门市": "361000", "福州市": "350000", "青岛市": "266000", "济南市": "250000",
    "郑州市": "450000", "西安市": "710000", "天津市": "300000", "合肥市": "230000",
    "沈阳市": "110000", "大连市": "116000", "昆明市": "650000", "南宁市": "530000",
    "南昌市": "330000", "哈尔滨市": "150000", "贵阳市": "550000", "海口市": "570000",
    "乌鲁木齐市": "830000",
}  # fmt: skip

STREETS: tuple[str, ...] = (
    "人民路", "解放路", "中山路", "建设路", "文三路", "滨江大道", "学府路", "科技园南路",
    "长江路", "新华路", "和平路", "花园路", "迎宾大道", "青年路", "东风路", "世纪大道",
)  # fmt: skip
ESTATES: tuple[str, ...] = (
    "阳光花园", "万科城", "保利香槟国际", "绿地世纪城", "金地名京", "华润二十四城",
    "碧桂园", "龙湖春江郦城", "恒大名都", "融创壹号院", "翠苑小区", "锦绣江南",
)  # fmt: skip

# Surnames with rough frequencies (王 李 张 刘 陈 lead); given-name characters that
# read as typical for women and men born 1985-2005.
SURNAMES: tuple[tuple[str, float], ...] = (
    ("王", 7.1), ("李", 7.0), ("张", 6.7), ("刘", 5.4), ("陈", 4.5), ("杨", 3.1), ("黄", 2.2),
    ("赵", 2.0), ("吴", 1.9), ("周", 1.9), ("徐", 1.5), ("孙", 1.5), ("马", 1.4), ("朱", 1.3),
    ("胡", 1.3), ("郭", 1.2), ("何", 1.2), ("林", 1.1), ("罗", 1.1), ("高", 1.1), ("郑", 1.0),
    ("梁", 0.9), ("谢", 0.8), ("宋", 0.8), ("唐", 0.8), ("许", 0.7), ("韩", 0.7), ("冯", 0.7),
    ("邓", 0.7), ("曹", 0.6), ("彭", 0.6), ("曾", 0.6), ("肖", 0.6), ("田", 0.5), ("董", 0.5),
    ("潘", 0.5), ("袁", 0.5), ("蔡", 0.5), ("蒋", 0.5), ("余", 0.5), ("叶", 0.5), ("程", 0.4),
    ("苏", 0.4), ("吕", 0.4), ("魏", 0.4), ("沈", 0.4), ("姚", 0.3), ("欧阳", 0.1),
)  # fmt: skip
FEMALE_CHARS = "婷雅静敏丽娟晓雪琳欣怡佳颖慧芳燕丹萍璐瑶梦倩莹妍楠蕾悦思涵诗雨嘉琪宁馨"
MALE_CHARS = "伟强磊军洋勇杰涛明超辉鹏浩宇俊博文斌凯晨昊哲航睿"

# Nickname pieces for platform accounts (Taobao member names, Youzan / WeChat nicknames).
NICK_WORDS: tuple[str, ...] = (
    "小鱼", "晴天", "橘子", "木木", "糖果", "阿狸", "柠檬", "桃子", "喵喵", "小熊",
    "sunny", "momo", "lily", "coco", "amy", "vivian", "echo", "nana", "kiki", "luna",
    "一只猫", "草莓味", "慢半拍", "向日葵", "小确幸", "奶茶控", "追风", "星星",
)  # fmt: skip

# Mobile prefixes of the three carriers, weighted roughly by subscribers.
PHONE_PREFIXES: tuple[tuple[str, float], ...] = (
    ("138", 3), ("139", 3), ("137", 2), ("136", 2), ("135", 2), ("150", 2), ("151", 2),
    ("152", 1.5), ("158", 2), ("159", 2), ("186", 2.5), ("187", 1.5), ("188", 1.5),
    ("189", 2), ("177", 1), ("180", 1.5), ("181", 1.5), ("183", 1), ("185", 1), ("199", 1.5),
    ("191", 1), ("173", 1), ("176", 1), ("133", 1), ("153", 1), ("166", 0.8), ("198", 0.8),
)  # fmt: skip

# Frontline staff (导购) credited on Youzan orders and in the stores.
GUIDES: tuple[str, ...] = ("林小青", "周雨桐", "陈佳怡", "王梦瑶", "赵思涵", "刘欣妍")

BUYER_NOTES: tuple[str, ...] = (
    "请尽快发货，谢谢", "送人的，不要放发票", "麻烦多送点小样", "周末在家，工作日放驿站",
    "敏感肌，求推荐搭配", "可以帮忙包装一下吗", "上次的用完了，回购",
)  # fmt: skip

CLOSE_REASONS_UNPAID: tuple[str, ...] = ("买家未付款", "超时未付款，系统自动关闭")
CLOSE_REASONS_REFUND: tuple[str, ...] = ("退款", "买家申请退款", "未发货，买家申请退款")
