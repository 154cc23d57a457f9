"""MGSM's own few-shot exemplars in each of its eleven languages, adapted to qstar's answer format.

Source: the eight exemplars of MGSM (Shi et al. 2022, "Language Models are Multilingual
Chain-of-Thought Reasoners", arXiv:2210.03057), human translations of eight worked grade-school
problems: file mgsm/exemplars.py of https://github.com/google-research/url-nlp, released there
under the Creative Commons Attribution 4.0 International licence (CC BY 4.0, mgsm/LICENSE); the
Hugging Face copy of MGSM (juletxara/mgsm) is marked CC BY-SA 4.0. The adapted texts below are
distributed under CC BY-SA 4.0 (https://creativecommons.org/licenses/by-sa/4.0/), which meets
both; the licence covers this file's texts only, not the rest of qstar.

Changes from the source: the "Question:" / "Step-by-Step Answer:" labels are removed (qstar's
prompt adds its own); each worked answer is split into one sentence per line (Thai, which has no
sentence marks, before ดังนั้น and แสดงว่า); its closing sentence is the language's answer line
(`qstar_cli.grading.numeric.LANGUAGES`), so German exemplar 1's "Die Antwort ist 11." reads
"Die Antwort lautet 11." and Japanese "答えは39個。" reads "答えは39です。"; a lower-case first
letter is capitalised (Russian); words pasted after a question mark or after the answer (ru 2;
te 2, 3, 4, 7) and a line break inside a question (ja 5) are removed, and a homophone typo is
fixed (ja 2: 難題 -> 何台). The answers are 11, 29, 39, 9, 33, 8, 8 and 5 in every language.
"""

from __future__ import annotations

# language -> eight (question, worked solution) pairs, in MGSM's order
MGSM_EXEMPLARS: dict[str, tuple[tuple[str, str], ...]] = {
    "en": (
        (
            "Roger has 5 tennis balls. He buys 2 more cans of tennis balls. Each can has 3 tennis balls. How many "
            "tennis balls does he have now?",
            "Roger started with 5 balls.\n"
            "2 cans of 3 tennis balls each is 6 tennis balls.\n"
            "5 + 6 = 11.\n"
            "The answer is 11.",
        ),
        (
            "There were nine computers in the server room. Five more computers were installed each day, from "
            "monday to thursday. How many computers are now in the server room?",
            "There are 4 days from monday to thursday.\n"
            "5 computers were added each day.\n"
            "That means in total 4 * 5 = 20 computers were added.\n"
            "There were 9 computers in the beginning, so now there are 9 + 20 = 29 computers.\n"
            "The answer is 29.",
        ),
        (
            "Leah had 32 chocolates and her sister had 42. If they ate 35, how many pieces do they have left in "
            "total?",
            "Leah had 32 chocolates and Leah’s sister had 42.\n"
            "That means there were originally 32 + 42 = 74 chocolates.\n"
            "35 have been eaten.\n"
            "So in total they still have 74 - 35 = 39 chocolates.\n"
            "The answer is 39.",
        ),
        (
            "Shawn has five toys. For Christmas, he got two toys each from his mom and dad. How many toys does he "
            "have now?",
            "He has 5 toys.\n"
            "He got 2 from mom, so after that he has 5 + 2 = 7 toys.\n"
            "Then he got 2 more from dad, so in total he has 7 + 2 = 9 toys.\n"
            "The answer is 9.",
        ),
        (
            "Michael had 58 golf balls. On tuesday, he lost 23 golf balls. On wednesday, he lost 2 more. How many "
            "golf balls did he have at the end of wednesday?",
            "Michael started with 58 golf balls and lost 23, so he has 58 - 23 = 35.\n"
            "After he lost 2 more, he has 35 - 2 = 33 balls now.\n"
            "The answer is 33.",
        ),
        (
            "Olivia has $23. She bought five bagels for $3 each. How much money does she have left?",
            "5 bagels for $3 each should cost 5 * 3 = 15 dollars.\n"
            "Olivia had $23 in the beginning, so now she has 23 - 15 = 8 dollars left.\n"
            "The answer is 8.",
        ),
        (
            "Jason had 20 lollipops. He gave Denny some lollipops. Now Jason has 12 lollipops. How many lollipops "
            "did Jason give to Denny?",
            "Jason started with 20 lollipops, but now he only has 12, so he gave Denny 20 - 12 = 8 lollipops.\n"
            "The answer is 8.",
        ),
        (
            "If there are 3 cars in the parking lot and 2 more cars arrive, how many cars are in the parking lot?",
            "There are 3 cars in the beginning, 2 more arrive, so now there should be 3 + 2 = 5 cars.\n"
            "The answer is 5.",
        ),
    ),
    "es": (
        (
            "Roger tiene 5 pelotas de tenis. Compra 2 tubos más de pelotas de tenis. Cada tubo contiene 3 pelotas "
            "de tenis. ¿Cuántas pelotas de tenis tiene ahora?",
            "Roger comenzó con 5 pelotas.\n"
            "2 tubos de 3 pelotas de tenis cada uno equivale a 6 pelotas de tenis.\n"
            "5 + 6 = 11.\n"
            "La respuesta es 11.",
        ),
        (
            "Había nueve computadoras en la sala de servidores. Se instalaron cinco computadoras cada día, de "
            "lunes a jueves. ¿Cuántas computadoras hay ahora en la sala de servidores?",
            "Hay 4 días de lunes a jueves.\n"
            "Se agregaron 5 computadoras cada día.\n"
            "Eso significa que en total se agregaron 4 * 5 = 20 computadoras.\n"
            "Al principio, había 9 computadoras, por lo que ahora hay 9 + 20 = 29 computadoras.\n"
            "La respuesta es 29.",
        ),
        (
            "Leah tenía 32 chocolates y su hermana tenía 42. Si se comieron 35, ¿cuántos chocolates les quedan en "
            "total?",
            "Leah tenía 32 chocolates y la hermana de Leah tenía 42.\n"
            "Quiere decir que originalmente había 32 + 42 = 74 chocolates.\n"
            "Se comieron 35.\n"
            "Por lo tanto, en total todavía tienen 74 - 35 = 39 chocolates.\n"
            "La respuesta es 39.",
        ),
        (
            "Shawn tiene cinco juguetes. Para Navidad, recibió dos juguetes de su mamá y dos de su papá. ¿Cuántos "
            "juguetes tiene ahora?",
            "Tiene 5 juguetes.\n"
            "Recibió 2 de la mamá, por lo que después de eso tiene 5 + 2 = 7 juguetes.\n"
            "Luego, recibió 2 más del papá, así que en total tiene 7 + 2 = 9 juguetes.\n"
            "La respuesta es 9.",
        ),
        (
            "Michael tenía 58 pelotas de golf. El martes, perdió 23 pelotas de golf. El miércoles, perdió 2 más. "
            "¿Cuántas pelotas de golf tenía al final del miércoles?",
            "Michael comenzó con 58 pelotas de golf y perdió 23, por lo tanto tiene 58 - 23 = 35.\n"
            "Después de perder 2 más, ahora tiene 35 - 2 = 33 pelotas.\n"
            "La respuesta es 33.",
        ),
        (
            "Olivia tiene $23. Compró cinco roscas a $3 cada una. ¿Cuánto dinero le queda?",
            "5 roscas a $3 cada una deben costar 5 * 3 = 15 dólares.\n"
            "Olivia tenía $23 al principio, por lo tanto ahora le quedan 23 - 15 = 8 dólares.\n"
            "La respuesta es 8.",
        ),
        (
            "Jason tenía 20 chupetines. Le dio algunos chupetines a Denny. Ahora Jason tiene 12 chupetines. "
            "¿Cuántos chupetines le dio Jason a Denny?",
            "Jason comenzó con 20 chupetines, pero ahora solo tiene 12, por lo tanto le dio a Denny 20 - 12 = 8 "
            "chupetines.\n"
            "La respuesta es 8.",
        ),
        (
            "Si hay 3 autos en el estacionamiento y llegan 2 autos más, ¿cuántos autos hay en el estacionamiento?",
            "Hay 3 autos al principio, llegan 2 más, por lo tanto ahora debe haber 3 + 2 = 5 autos.\n"
            "La respuesta es 5.",
        ),
    ),
    "fr": (
        (
            "Roger a 5 balles de tennis. Il achète 2 autres boîtes de balles de tennis en plus. Si chaque boîte "
            "contient 3 balles de tennis, combien de balles de tennis a-t-il maintenant ?",
            "Roger a commencé avec 5 balles.\n"
            "2 boîtes de 3 balles de tennis chacune représentent 6 balles de tennis.\n"
            "5 + 6 = 11.\n"
            "La réponse est 11.",
        ),
        (
            "Il y avait neuf ordinateurs dans la salle des serveurs. Cinq ordinateurs supplémentaires ont été "
            "installés chaque jour, du lundi au jeudi. Combien d'ordinateurs y a-t-il maintenant dans la salle des "
            "serveurs ?",
            "De lundi à jeudi, il y a 4 jours.\n"
            "5 ordinateurs ont été ajoutés par jour.\n"
            "Cela signifie qu'au total, 4 x 5 = 20 ordinateurs ont été ajoutés.\n"
            "Comme il y avait 9 ordinateurs au départ, il y a maintenant 9 + 20 = 29 ordinateurs.\n"
            "La réponse est 29.",
        ),
        (
            "Léa avait 32 chocolats et sa sœur en avait 42. Si elles en ont mangé 35, combien de morceaux leur "
            "reste-t-il en tout ?",
            "Léa avait 32 chocolats et sa sœur en avait 42.\n"
            "Cela signifie qu'il y avait à l'origine 32 + 42 = 74 chocolats.\n"
            "35 chocolats ont été mangés.\n"
            "Il leur en reste donc au total 74 - 35 = 39 chocolats.\n"
            "La réponse est 39.",
        ),
        (
            "Shawn a cinq jouets. Pour Noël, papa et maman lui ont offert deux jouets chacun. Combien de jouets "
            "a-t-il maintenant ?",
            "Il a 5 jouets.\n"
            "Il en a reçu 2 de maman, ce qui fait qu'il a 5 + 2 = 7 jouets.\n"
            "Ensuite, il a reçu 2 autres jouets de papa.\n"
            "Cela fait donc un total de 7 + 2 = 9 jouets.\n"
            "La réponse est 9.",
        ),
        (
            "Michael avait 58 balles de golf. Mardi, il a perdu 23 balles de golf. Mercredi, il en a perdu 2 "
            "autres. De combien de balles de golf disposait-il à la fin du mercredi ?",
            "Michael a commencé avec 58 balles de golf et en a perdu 23.\n"
            "Il lui reste donc 58 - 23 = 35.\n"
            "Après en avoir perdu 2 autres, il lui reste 35 - 2 = 33 balles.\n"
            "La réponse est 33.",
        ),
        (
            "Olivia a 23 $. Elle a acheté cinq bagels à 3 $ chacun. Combien d'argent lui reste-t-il ?",
            "5 bagels à 3 $ chacun coûtent 5 x 3 = 15 dollars.\n"
            "Olivia avait 23 dollars au départ, il lui reste donc 23 - 15 = 8 dollars.\n"
            "La réponse est 8.",
        ),
        (
            "Jason avait 20 sucettes. Il en a donné à Denny et il ne lui en reste plus que 12 à présent. Combien "
            "de sucettes Jason a-t-il donné à Denny ?",
            "Au départ, Jason avait 20 sucettes.\n"
            "Il n'en a plus que 12, alors il a donné à Denny 20 - 12 = 8 sucettes.\n"
            "La réponse est 8.",
        ),
        (
            "S'il y a 3 voitures dans le parking et que 2 autres arrivent, combien de voitures y a-t-il maintenant "
            "dans le parking ?",
            "Au début, il y a 3 voitures, puis 2 autres arrivent.\n"
            "Ça fait donc 3 + 2 = 5 voitures.\n"
            "La réponse est 5.",
        ),
    ),
    "de": (
        (
            "Roger hat 5 Tennisbälle. Er kauft noch 2 Dosen Tennisbälle. In jeder Dose sind 3 Tennisbälle. Wie "
            "viele Tennisbälle hat er jetzt?",
            "Roger begann mit 5 Bällen.\n"
            "2 Dosen von jeweils 3 Tennisbällen macht 6 Tennisbälle.\n"
            "5 + 6 = 11.\n"
            "Die Antwort lautet 11.",
        ),
        (
            "Es waren neun Computer im Serverraum. Von Montag bis Donnerstag wurden jeden Tag noch fünf Computer "
            "installiert. Wie viele Computer sind jetzt im Serverraum?",
            "Von Montag bis Donnerstag sind es 4 Tage.\n"
            "Jeden Tag kamen 5 neue Computer hinzu.\n"
            "Das macht insgesamt 4 x 5 = 20 Computer, die hinzugefügt wurden.\n"
            "Am Anfang waren es 9 Computer, also sind es jetzt 9 + 20 =29 Computer.\n"
            "Die Antwort lautet 29.",
        ),
        (
            "Leah hat 32 Pralinen und ihre Schwester hat 42. Wenn sie 35 essen, wie viele sind dann insgesamt noch "
            "übrig?",
            "Leah hat 32 Pralinen und Leahs Schwester 42.\n"
            "Das bedeutet, dass es ursprünglich 32 + 42 =74 Pralinen waren.\n"
            "35 wurden gegessen.\n"
            "Also haben sie insgesamt noch 74 - 35 = 39 Pralinen übrig.\n"
            "Die Antwort lautet 39.",
        ),
        (
            "Shawn hat fünf Spielzeuge. Zu Weihnachten hat er von seiner Mama und seinem Papa jeweils zwei "
            "Spielzeuge bekommen. Wie viele Spielzeuge hat er jetzt?",
            "Er hat 5 Spielzeuge.\n"
            "Er hat 2 von seiner Mama bekommen, sodass er nun 5 + 2 = 7 Spielzeuge hat.\n"
            "Dann hat er noch 2 von seinem Papa bekommen, also hat er insgesamt 7 + 2 = 9 Spielzeuge.\n"
            "Die Antwort lautet 9.",
        ),
        (
            "Michael hat 58 Golfbälle. Am Dienstag hat er 23 Golfbälle verloren. Am Mittwoch hat er 2 weitere "
            "verloren. Wie viele Golfbälle hat er Mittwoch am Ende des Tages?",
            "Michael hatte anfangs 58 Golfbälle und hat 23 verloren, sodass er 58 - 23 = 35 hat.\n"
            "Nachdem er 2 weitere verloren hat, hat er jetzt 35 - 2 = 33 Bälle.\n"
            "Die Antwort lautet 33.",
        ),
        (
            "Olivia hat 23 US-Dollar. Sie hat fünf Bagels für 3 US-Dollar pro Stück gekauft. Wie viel Geld hat sie "
            "übrig?",
            "5 Bagels für 3 US-Dollar pro Stück kosten 5 x 3 = 15 Dollar.\n"
            "Olivia hat anfangs 23 US-Dollar, also hat sie jetzt 23 - 15 = 8 Dollar übrig.\n"
            "Die Antwort lautet 8.",
        ),
        (
            "Jason hatte 20 Lutscher. Er hat Denny einige Lutscher gegeben. Jetzt hat Jason 12 Lutscher. Wie viele "
            "Lutscher hat Jason Denny gegeben?",
            "Jason hat mit 20 Lutschern angefangen, aber jetzt hat er nur 12, also hat er Denny 20 - 12 = 8 "
            "Lutscher abgegeben.\n"
            "Die Antwort lautet 8.",
        ),
        (
            "Wenn 3 Autos auf dem Parkplatz stehen und 2 weitere Autos ankommen, wie viele Autos stehen dann auf "
            "dem Parkplatz?",
            "Anfangs sind 3 Autos da, 2 weitere kommen an, also sind jetzt 3 + 2 = 5 Autos da.\n"
            "Die Antwort lautet 5.",
        ),
    ),
    "ru": (
        (
            "У Роджера 5 теннисных мячей. Он покупает еще 2 банки теннисных мячей. В каждой банке 3 теннисных "
            "мяча. Сколько теннисных мячей у него сейчас?",
            "В начале у Роджера было 5 мячей.\n"
            "2 банки по 3 теннисных мяча каждая — это 6 теннисных мячей.\n"
            "5 + 6 = 11.\n"
            "Ответ — 11.",
        ),
        (
            "В серверной было девять компьютеров. Каждый день с понедельника по четверг устанавливалось еще по "
            "пять компьютеров. Сколько компьютеров сейчас в серверной?",
            "С понедельника по четверг прошло 4 дня.\n"
            "Каждый день добавляли по 5 компьютеров.\n"
            "То есть всего добавили 4 * 5 = 20 компьютеров.\n"
            "Вначале было 9 компьютеров, значит, теперь стало 9 + 20 = 29 компьютеров.\n"
            "Ответ — 29.",
        ),
        (
            "У Лии было 32 шоколадных конфеты, а у ее сестры — 42. Если 35 они съели, сколько всего штук у них "
            "осталось?",
            "У Лии было 32 шоколадных конфеты, а у сестры Лии — 42.\n"
            "Значит, первоначально было 32 + 42 = 74 шоколадных конфеты.\n"
            "35 съели.\n"
            "Значит, всего осталось 74 - 35 = 39 шоколадных конфет.\n"
            "Ответ — 39.",
        ),
        (
            "У Шона было пять игрушек. На Рождество он получил по две игрушки от мамы и от папы. Сколько у него "
            "сейчас игрушек?",
            "У него было 5 игрушек.\n"
            "Он получил 2 от мамы, и после этого у него стало 5 + 2 = 7 игрушек.\n"
            "Потом он получил еще 2 от папы, так что в общей сложности у него стало 7 + 2 = 9 игрушек.\n"
            "Ответ — 9.",
        ),
        (
            "У Майкла было 58 мячей для гольфа. Во вторник он потерял 23 мяча для гольфа. В среду он потерял еще "
            "2. Сколько мячей для гольфа осталось у него к концу среды?",
            "Вначале у Майкла было 58 мячей для гольфа, 23 он потерял, и у него осталось 58 - 23 = 35.\n"
            "После этого он потерял еще 2, и теперь у него осталось 35 - 2 = 33 мяча.\n"
            "Ответ — 33.",
        ),
        (
            "У Оливии было 23 $. Она купила пять рогаликов по 3 $. Сколько денег у нее осталось?",
            "5 рогаликов по 3 $ стоят 5 * 3 = 15 долларов.\n"
            "Вначале у Оливии было 23 $, значит, теперь у нее осталось 23 - 15 = 8 $.\n"
            "Ответ — 8.",
        ),
        (
            "У Джейсона было 20 леденцов. Он дал несколько леденцов Дэнни. Теперь у Джейсона осталось 12 леденцов. "
            "Сколько леденцов Джейсон дал Дэнни?",
            "Вначале у Джейсона было 20 леденцов, а теперь осталось только 12, значит, он дал Дэнни 20 - 12 = 8 "
            "леденцов.\n"
            "Ответ — 8.",
        ),
        (
            "Если на парковке 3 автомобиля и подъезжают еще 2, сколько автомобилей на парковке?",
            "Вначале есть 3 автомобиля, подъезжают еще 2, значит, теперь там должно быть 3 + 2 = 5 автомобилей.\n"
            "Ответ — 5.",
        ),
    ),
    "zh": (
        (
            "罗杰有 5 个网球。他又买了 2 罐网球。每罐有 3 个网球。他现在有多少个网球？",
            "罗杰一开始有 5 个球。\n"
            "2 罐各 3 个网球就是 6 个网球。\n"
            "5 + 6 = 11。\n"
            "答案是 11。",
        ),
        (
            "服务器机房里有九台电脑。从周一到周四，每天又安装了五台电脑。服务器机房里现在有多少台电脑？",
            "从周一到周四有 4 天。\n"
            "每天增加 5 台电脑。\n"
            "这意味着一共增加了 4 * 5 = 20 台电脑。\n"
            "一开始有 9 台电脑，所以现在有 9 + 20 = 29 台电脑。\n"
            "答案是 29。",
        ),
        (
            "利亚有 32 块巧克力，她妹妹有 42 块。如果她们吃了 35 块，她们一共还剩下多少块？",
            "利亚有 32 块巧克力，利亚的妹妹有 42 块。\n"
            "这意味着原来有 32 + 42 = 74 块巧克力。\n"
            "35 块被吃掉了。\n"
            "所以她们一共还有 74 - 35 = 39 块巧克力。\n"
            "答案是 39。",
        ),
        (
            "肖恩有五个玩具。圣诞节他从他爸爸妈妈那里各得到了两个玩具。他现在有多少个玩具？",
            "他有 5 个玩具。\n"
            "他从妈妈那里得到 2 个，所以之后他有 5 + 2 = 7 个玩具。\n"
            "然后他又从爸爸那里得到了 2 个，所以他一共有 7 + 2 = 9 个玩具。\n"
            "答案是 9。",
        ),
        (
            "迈克尔有 58 个高尔夫球。周二，他丢失了 23 个高尔夫球。周三，他又丢失了 2 个。"
            "周三结束时他有多少个高尔夫球？",
            "迈克尔一开始有 58 个高尔夫球，丢失了 23 个，所以他有 58 - 23 = 35 个。\n"
            "在他又丢失了 2 个后，他现在有 35 - 2 = 33 个球。\n"
            "答案是 33。",
        ),
        (
            "奥利维亚有 23 美元。她买了五个单价 3 美元的百吉饼。她还剩多少钱？",
            "5 个单价 3 美元的百吉饼应该花费 5 * 3 = 15 美元。\n"
            "奥利维亚一开始有 23 美元，所以现在她还剩 23 - 15 = 8 美元。\n"
            "答案是 8。",
        ),
        (
            "杰森有 20 根棒棒糖。他给了丹尼一些棒棒糖。现在杰森有 12 根棒棒糖。杰森给了丹尼多少根棒棒糖？",
            "杰森一开始有 20 根棒棒糖，但现在他只有 12 根了，所以他给了丹尼 20 - 12 = 8 根棒棒糖。\n"
            "答案是 8。",
        ),
        (
            "如果停车场里有 3 辆车，又来了 2 辆车，停车场里有多少辆车？",
            "一开始有 3 辆车，又来了 2 辆，所以现在应该有 3 + 2 = 5 辆车。\n"
            "答案是 5。",
        ),
    ),
    "ja": (
        (
            "ロジャーは5個のテニスボールがあります。テニスボールの缶を2つ追加で買います。"
            "それぞれの缶には3つのテニスボールが入っています。彼は今いくつのテニスボールがありますか？",
            "ロジャーは最初5個のボールがありました。\n"
            "テニスボール3個入りの缶が2つあれば、テニスボールは6個あります。\n"
            "5+6=11。\n"
            "答えは11です。",
        ),
        (
            "サーバールームには9台のコンピューターがありました。"
            "月曜日から木曜日まで毎日5台のコンピューターをインストールしました。"
            "今サーバールームには何台のコンピューターがありますか？",
            "月曜から木曜まで4日あります。\n"
            "毎日5台のコンピューターが追加されます。\n"
            "つまり、全部で4*5=20台のコンピューターが追加されました。\n"
            "最初に9台のコンピューターがあったので、今は9+20=29台のコンピューターとなります。\n"
            "答えは29です。",
        ),
        (
            "リアは32個のチョコレートを持っていました、彼女の妹は42個持っていました。彼女達が35個食べたとしたら、"
            "全部で何個残っていますか？",
            "リアは32個のチョコレートを持っており、リアの妹は42個持っていた。\n"
            "つまり、元々32+42=74個のチョコレートがあった。\n"
            "35個が食べられた。\n"
            "だから全部で、彼女たちには74-35=39個のチョコレートが残っている。\n"
            "答えは39です。",
        ),
        (
            "ショーンは5個のおもちゃを持っています。クリスマスに、"
            "彼は父と母からそれぞれ2つずつおもちゃをもらいました。今彼はいくつのおもちゃがありますか？",
            "彼は5個おもちゃを持っています。\n"
            "母から2つもらった後は、5+2=7個のおもちゃがあります。\n"
            "その後父から2つさらにもらい、全部で彼は、7+2=9個のおもちゃがあります。\n"
            "答えは9です。",
        ),
        (
            "マイケルは58個のゴルフボールを持っています。火曜日、彼は23個のゴルフボールを失くしました。水曜日、"
            "さらに2個失くしました。水曜日の終わりには、彼は何このゴルフボールを持っていましたか？",
            "マイケルは最初58個のゴルフボールがあり、23個なくしました、だから彼は58-23=35個残っています。\n"
            "彼があと2個なくした後、彼は今35-2=33個残っています。\n"
            "答えは33です。",
        ),
        (
            "オリビアには$23あります。彼女はそれぞれ$3のベーグルを5つ買いました。"
            "彼女にはいくらのお金が残っていますか？",
            "$3のベーグルは5個で、5*3=15ドルになるはずです。\n"
            "オリビアは最初$23あったので、今彼女には23-15=8ドル残っています。\n"
            "答えは8です。",
        ),
        (
            "ジェイソンは20個の飴を持っています。彼はデニーに飴をいくつかあげました。今、"
            "ジェイソンには12個の飴があります。ジェイソンはデニーにいくつ飴をあげましたか？",
            "ジェイソンには最初20個の飴がありましたが、今彼は12個しか持っていません、なので彼はデニーに、"
            "20-12=8個の飴をあげました。\n"
            "答えは8です。",
        ),
        (
            "駐車場に3台の車があり、2台の車が到着するとしたら、駐車場には何台の車がありますか？",
            "最初に3台の車があり、さらに2台到着したので、今は3+2で5台の車があるはずです。\n"
            "答えは5です。",
        ),
    ),
    "th": (
        (
            "โรเจอร์มีลูกเทนนิส 5 ลูก เขาซื้อลูกเทนนิสเพิ่มอีก 2 กระป๋อง โดยแต่ละกระป๋องมีลูกเทนนิส 3 ลูก "
            "ตอนนี้เขามีลูกเทนนิสกี่ลูก",
            "โรเจอร์เริ่มด้วยการมีลูกเทนนิส 5 ลูก กระป๋อง 2 ใบที่มีลูกเทนนิสใบละ 3 ลูก เท่ากับมีลูกเทนนิส 6 ลูก\n"
            "ดังนั้น 5 + 6 = 11\n"
            "คำตอบคือ 11",
        ),
        (
            "มีคอมพิวเตอร์เก้าเครื่องในห้องเซิร์ฟเวอร์ "
            "โดยตั้งแต่วันจันทร์ถึงวันพฤหัสบดีมีคอมพิวเตอร์ติดตั้งเพิ่มอีกวันละห้าเครื่อง "
            "ตอนนี้มีคอมพิวเตอร์ในห้องเซิร์ฟเวอร์กี่เครื่อง",
            "ตั้งแต่วันจันทร์ถึงวันพฤหัสบดีรวมกันเป็น 4 วัน โดยแต่ละวันเพิ่มคอมพิวเตอร์ไป 5 เครื่อง\n"
            "แสดงว่าเพิ่มคอมพิวเตอร์ไปทั้งหมด 4 * 5 = 20 เครื่อง แรกเริ่มมีคอมพิวเตอร์อยู่ 9 เครื่อง\n"
            "ดังนั้น ตอนนี้จะมีคอมพิวเตอร์อยู่ 9 + 20 = 29 เครื่อง\n"
            "คำตอบคือ 29",
        ),
        (
            "ลีอามีช็อกโกแลตอยู่ 32 ชิ้น และน้องสาวมีช็อกโกแลตอยู่ 42 ชิ้น หากทั้งสองคนทานช็อกโกแลตไปแล้ว 35 ชิ้น "
            "จะเหลือช็อกโกแลตทั้งหมดกี่ชิ้น",
            "ลีอามีช็อกโกแลตอยู่ 32 ชิ้น และน้องสาวมีช็อกโกแลตอยู่ 42 ชิ้น\n"
            "แสดงว่าเดิมมีช็อกโกแลตอยู่ 32 + 42 = 74 ชิ้น หากทานไปแล้ว 35 ชิ้น\n"
            "ดังนั้นจะเหลือช็อกโกแลตทั้งหมดอยู่ 74 - 35 = 39 ชิ้น\n"
            "คำตอบคือ 39",
        ),
        (
            "ชอว์นมีของเล่นห้าชิ้น ในวันคริสต์มาส เขาได้รับของเล่นจากแม่และพ่อคนละสองชิ้น "
            "ตอนนี้ชอว์นมีของเล่นกี่ชิ้น",
            "ชอว์นมีของเล่น 5 ชิ้น เขาได้รับของเล่นจากแม่ 2 ชิ้น\n"
            "แสดงว่าตอนนี้ชอว์นมีของเล่นอยู่ 5 + 2 = 7 ชิ้น แล้วเขาก็ได้รับของเล่นจากพ่อเพิ่มอีก 2 ชิ้น\n"
            "ดังนั้น ชอว์นจึงมีของเล่นรวมทั้งหมด 7 + 2 = 9 ชิ้น\n"
            "คำตอบคือ 9",
        ),
        (
            "ไมเคิลมีลูกกอล์ฟ 58 ลูก ในวันอังคาร เขาทำลูกกอล์ฟหายไป 23 ลูก, ในวันพุธ เขาทำหายอีก 2 ลูก, "
            "สิ้นสุดวันพุธ ไมเคิลมีลูกกอล์ฟกี่ลูก",
            "แรกเริ่ม ไมเคิลมีลูกกอล์ฟอยู่ 58 ลูกและทำหายไป 23 ลูก\n"
            "แสดงว่าเขาเหลือลูกกอล์ฟอยู่ 58 - 23 = 35 ลูก หลังจากนั้นเขาทำหายอีก 2 ลูก\n"
            "ดังนั้น ตอนนี้เขาจึงมีลูกกอล์ฟอยู่ 35 - 2 = 33 ลูก\n"
            "คำตอบคือ 33",
        ),
        (
            "โอลิเวียมีเงินอยู่ $23 เธอซื้อขนมปังเบเกิลไปห้าชิ้น ราคาชิ้นละ $3 โอลิเวียเหลือเงินอยู่เท่าไร",
            "ขนมปังเบเกิล 5 ชิ้น ราคาชิ้นละ $3 รวมเป็นเงิน 5 * 3 = 15 ดอลลาร์ แรกเริ่มโอลิเวียมีเงินอยู่ $23\n"
            "ดังนั้น ตอนนี้โอลิเวียจะเหลือเงินอยู่ 23 - 15 = 8 ดอลลาร์\n"
            "คำตอบคือ 8",
        ),
        (
            "เจสันมีลูกอมโลลิป๊อป 20 แท่ง เขาให้แดนนี่ไปจำนวนหนึ่งจนตอนนี้เหลือลูกอมโลลิป๊อปอยู่ 12 แท่ง "
            "เจสันให้ลูกอมโลลิป๊อปกับแดนนี่ไปกี่แท่ง",
            "แรกเริ่มเจสันมีลูกอมโลลิป๊อปอยู่ 20 แท่ง แต่ตอนนี้เขาเหลือลูกอมโลลิป๊อปอยู่เพียง 12 แท่ง\n"
            "ดังนั้น เจสันให้ลูกอมโลลิป๊อปแดนนี่ไป 20 - 12 = 8 แท่ง\n"
            "คำตอบคือ 8",
        ),
        (
            "หากที่จอดรถมีรถยนต์จอดอยู่ 3 คัน และมีรถยนต์ที่เพิ่งขับมาถึงอีก 2 คัน ที่จอดรถมีรถยนต์กี่คัน",
            "แรกเริ่มมีรถยนต์อยู่ 3 คัน ขับมาถึงที่จอดรถอีก 2 คัน\n"
            "ดังนั้น จะมีรถยนต์รวมกันเป็น 3 + 2 = 5 คัน\n"
            "คำตอบคือ 5",
        ),
    ),
    "sw": (
        (
            "Roger ana mipira 5 ya tenisi. Ananunua mikebe 2 zaidi ya mipira ya tenisi. Kila mkebe una mipira 3 ya "
            "tenisi. Ana mipira mingapi ya tenisi kwa sasa?",
            "Roger alianza kwa mipira 5.\n"
            "Mikebe 2 yenye mipira 3 ya tenisi kila oja ni mipira 6 ya tenisi.\n"
            "5 + 6 = 11.\n"
            "Jibu ni 11.",
        ),
        (
            "Kuna kompyuta tisa katika chumba cha seva. Kompyuta tano zaidi zilisakinishwa kila siku, kuanzia "
            "Jumatatu hadi Alhamisi. Kuna kompyuta ngapi wkenye chumba cha seva kufikia sasa?",
            "Kuna siku 4 kuanzia Jumatatu mpaka Alhamisi.\n"
            "Kompyuta 5 ziliongezwa kila siku.\n"
            "Hiyo inamaanisha kuwa kwa jumla kompyuta 4 * 5 = 20 ziliongezwa.\n"
            "Kulikuwa na kompyuta 9 mwanzoni, hivyo sasa kuna kompyuta 9 + 20 = 29.\n"
            "Jibu ni 29.",
        ),
        (
            "Leah alikuwa na chokoleti 32 na dadake alikuwa na 42. Iwapo walikula 35, wamesalia na chokoleti ngapi "
            "kwa jumla?",
            "Lea alikuwa na chokoleti 32 na dadake Leah alikuwa na 42.\n"
            "Hiyo inamaanisha kuwa awali kulikuwa na chokoleti 32 + 42 + 74.\n"
            "35 zimeliwa.\n"
            "Hivyo kwa jumla bado kuna chokoleti 74 - 35 = 39.\n"
            "Jibu ni 39.",
        ),
        (
            "Shawn ana wanasesere watano. Siku ya Krismasi, alipata wanasesere wawili kutoka kwa mamake na babake "
            "kila mmoja. Sasa ana wanasesere wangapi kwa sasa?",
            "Ana wanasesere 5.\n"
            "Alipata 2 kutoka kwa mama, hivyo baada ya hapo alikuwa na wanasesere 5 + 2 = 7.\n"
            "Kisha alipata 2 zaidi kutoka kwa baba, hivyo kwa jumla alikuwa na wanasesere 7 + 2 = 9.\n"
            "Jibu ni 9.",
        ),
        (
            "Michael alikuwa na mipira 58 ya gofu. Jumanne, alipoteza mipira 23 ya gofu. Jumatano, alipoteza "
            "mipira 2 zaidi. Alikuwa na mipira mingapi ya gofu kufikia mwishoni mwa Jumatano?",
            "Michael alianza na mipira 58 ya gofu na akapoteza 23, hivyo ana 58 - 23 = 35.\n"
            "Baadaye alipoteza 2 zaidi, sasa ana mipira 35 - 2 = 33.\n"
            "Jibu ni 33.",
        ),
        (
            "Olivia ana $23. Alinunua bageli tano kwa $3 kila moja. Amesalia na pesa ngapi?",
            "Bageli 5 za $3 kila moja zinafaa kugharimu 5 * 3 = dola 15.\n"
            "Olivia alikuwa na $23 mwanzoni, sasa amesalia na dola 23 - 15 = 8.\n"
            "Jibu ni 8.",
        ),
        (
            "Jason alikuwa na pipi 20. Alimpa Denny pipi nyingine, Sasa Jason amesalia na pipi 12. Jason alimpa "
            "Denny pipi ngapi?",
            "Jason alianza na pipi 20, lakini sasa ana 12, hivyo alimpa Denny pipi 20 - 12 = 8.\n"
            "Jibu ni 8.",
        ),
        (
            "Ikiwa kuna magari 3 katika eneo la maegesho na magari 2 zaidi yameongezeka, kuna magari mangapi kwa "
            "jumla katika eneo la maegesho?",
            "Mwanzoni kuna magari 3, 2 zaidi yameongezeka hivyo kutakuwa na magari 3 + 2 = 5.\n"
            "Jibu ni 5.",
        ),
    ),
    "bn": (
        (
            "রজারের 5টি টেনিস বল আছে। সে আরও 2 ক্যান টেনিস বল কিনেছে। প্রতিটি ক্যানে 3টি করে টেনিস বল আছে। তার "
            "কাছে এখন কতগুলি টেনিস বল আছে?",
            "রজারের প্রথমে 5টি বল ছিল।\n"
            "2টি ক্যানের প্রতিটিতে 3টে টেনিস বল মানে 6টি টেনিস বল।\n"
            "5 + 6 = 11।\n"
            "উত্তর হল 11।",
        ),
        (
            "সার্ভার কক্ষে নয়টি কম্পিউটার ছিল। সোমবার থেকে বৃহস্পতিবার প্রতিদিন আরও পাঁচটি করে কম্পিউটার স্থাপন "
            "করা হয়েছিল। সার্ভার কক্ষে এখন কতগুলি কম্পিউটার আছে?",
            "সোমবার থেকে বৃহস্পতিবার 4দিন হয়।\n"
            "প্রতিদিন 5টি করে কম্পিউটার যোগ করা হয়েছে।\n"
            "যার অর্থ মোট 4 * 5 = 20টি কম্পিউটার যোগ করা হয়েছে।\n"
            "শুরুতে 9টি কম্পিউটার ছিল, তাই এখন 9 + 20 = 29টি কম্পিউটার রয়েছে।\n"
            "উত্তর হল 29।",
        ),
        (
            "লিয়ার 32টি চকোলেট ছিল এবং তার বোনের ছিল 42টি। যদি তারা 35টি খেয়ে থাকে, তাহলে তাদের কাছে মোট কতগুলি "
            "অবিশিষ্ট আছে?",
            "লিয়ার 32টি চকোলেট ছিল এবং লিয়ার বোনের ছিল 42টি।\n"
            "যার অর্থ শুরুতে 32 + 42 = 74টি চকোলেট ছিল।\n"
            "35টি খাওয়া হয়ে গেছে।\n"
            "তাই তাদের কাছে মোট 74 - 35 = 39টি চকোলট আছে।\n"
            "উত্তর হল 39।",
        ),
        (
            "শনের পাঁচটি খেলনা আছে। ক্রিসমাস উপলক্ষে সে তার মাতা ও পিতা উভয়ের থেকে দুটি করে খেলনা পেয়েছে। তার কাছে "
            "এখন কতগুলি খেলনা আছে?",
            "তার কাছে 5টি খেলনা আছে।\n"
            "সে তার মাতার থেকে 2টি খেলনা পেয়েছিল অতএব, এরপর তার 5 + 2 = 7টি খেলনা হয়েছে।\n"
            "তারপর সে তার পিতার থেকে 2টি খেলনা পেয়েছিল, তাই তার মোট 7 + 2 = 9 টি খেলনা হয়েছে।\n"
            "উত্তর হল 9।",
        ),
        (
            "মাইকেলের 58টি গলফ বল ছিল। মঙ্গলবার, সে 23টি গলফ বল হারিয়েছিল। বুধবার, সে আরও 2টি বল হারিয়েছিল। "
            "বুধবারের শেষে তার কাছে কয়টি গলফ বল ছিল?",
            "শুরুতে মাইকেলের কাছে 58টি গলফ বল ছিল এবং সে 23টি বল হারিয়েছিল, তাই তার 58 - 23 = 35টি বল আছে।\n"
            "আরও 2টি বল হারানোর পর, তার এখন 35 - 2 = 33টি বল আছে।\n"
            "উত্তর হল 33।",
        ),
        (
            "অলিভিয়ার $23 আছে। সে পাঁচটি ব্যাগেল কিনেছিল যার প্রতিটির মূল্য $3। তার কাছে কত অর্থ অবশিষ্ট আছে?",
            "প্রতিটি ব্যাগেলের মূল্য $3 হলে 5টি ব্যাগেলের মূল্য হওয়া উচিৎ 5 *3 = 15 ডলার।\n"
            "শুরুতে অলিভিয়ার কাছে $23 ছিল, তাই বর্তমানে তার কাছে 23 - 15 = 8 ডলার অবশিষ্ট আছে।\n"
            "উত্তর হল 8।",
        ),
        (
            "জ্যাসনের 20টি ললিপপ ছিল। সে ডেনিকে কিছু ললিপপ দিয়েছিল। বর্তমানে জ্যাসনের কাছে 12টি ললিপপ আছে। জ্যাসন "
            "ডেনিকে কতগুলি ললিপপ দিয়েছিল?",
            "জ্যাসনের কাছে প্রথমে 20টি ললিপপ ছিল, কিন্তু এখন তার কাছে শুধুমাত্র 12টি আছে, তাহলে সে ডেনিকে 20 - 12 "
            "= 8টি ললিপপ দিয়েছিল।\n"
            "উত্তর হল 8।",
        ),
        (
            "পার্কিং লটে যদি 3 টি গাড়ি থাকে এবং আরও 2টি গাড়ি আসে, তাহলে পার্কিং লটটিতে কতগুলি গাড়ি আছে?",
            "শুরুতে সেখানে 3টি গাড়ি ছিল, আরও 2টি গাড়ি আসে, তাহলে বর্তমানে 3 +2 = 5টি গাড়ি থাকা উচিৎ।\n"
            "উত্তর হল 5।",
        ),
    ),
    "te": (
        (
            "రోజర్ వద్ద 5 టెన్నిస్ బంతులు ఉన్నాయి. అతడు మరో 2 క్యాన్\u200cల టెన్నిస్ బంతులు కొనుగోలు చేశాడు. ప్రతి "
            "క్యాన్\u200cలో 3 టెన్నిస్ బంతులున్నాయి. ఇప్పుడు అతడి వద్ద ఎన్ని టెన్నిస్ బంతులు ఉన్నాయి?",
            "రోజర్ 5 బంతులతో ప్రారంభించాడు.\n"
            "2 క్యాన్\u200cల్లో ఒక్కదానిలో 3 టెన్నిస్ బంతులు అంటే 6 టెన్నిస్ బంతులు ఉన్నాయి.\n"
            "5+6=11.\n"
            "సమాధానం 11.",
        ),
        (
            "సర్వర్ రూమ్\u200cలో తొమ్మిది కంప్యూటర్\u200cలు ఉన్నాయి. సోమవారం నుంచి గురువారం వరకు ప్రతిరోజూ మరో ఐదు "
            "కంప్యూటర్\u200cలు ఇన్\u200cస్టాల్ చేయబడ్డాయి. సర్వర్ రూమ్\u200cలో ఇప్పుడు ఎన్ని కంప్యూటర్\u200cలు "
            "ఉన్నాయి?",
            "సోమవారం నుంచి గురువారం వరకు 4 రోజులున్నాయి.\n"
            "ప్రతిరోజూ 5 కంప్యూటర్\u200cలు జోడించబడ్డాయి.\n"
            "అంటే మొత్తం 4*5=20 కంప్యూటర్\u200cలు జోడించబడ్డాయి.\n"
            "ప్రారంభంలో 9 కంప్యూటర్\u200cలు ఉన్నాయి, అందువల్ల ఇప్పుడు అవి 9+20=29 కంప్యూటర్\u200cలు\n"
            "సమాధానం 29.",
        ),
        (
            "లియా వద్ద 32 చాక్లెట్\u200cలు మరియు ఆమె సోదరి వద్ద 42 ఉన్నాయి. వారు 35 తిన్నట్లయితే, మొత్తం మీద వారి "
            "వద్ద ఎన్ని పీస్\u200cలు మిగిలి ఉన్నాయి?",
            "లియా వద్ద 32 చాక్లెట్\u200cలు ఉన్నాయి, లియా సోదరి వద్ద 42 చాక్లెట్\u200cలు ఉన్నాయి.\n"
            "అంటే వారి వద్ద వాస్తవంగా 32+42= 74 చాక్లెట్\u200cలు ఉన్నాయి.\n"
            "35 చాక్లెట్\u200cలను తిన్నారు.\n"
            "అందువల్ల వారి వద్ద మొత్తం 74-35= 39 చాక్లెట్\u200cలు ఉన్నాయి.\n"
            "సమాధానం 39.",
        ),
        (
            "షాన్ వద్ద ఐదు బొమ్మలు ఉన్నాయి. అతడు క్రిస్టమస్ కొరకు తన అమ్మ మరియు నాన్నల నుంచి రెండేసి బొమ్మల "
            "చొప్పున పొందాడు. ఇప్పుడు అతడి వద్ద ఎన్ని బొమ్మలు ఉన్నాయి?",
            "అతడి వద్ద 5 బొమ్మలు ఉన్నాయి.\n"
            "అతడు అమ్మ దగ్గర నుంచి 2 పొందాడు, కాబట్టి ఆ తరువాత అతడి వద్ద 5+2=7 బొమ్మలున్నాయి.\n"
            "తరువాత తండ్రి వద్ద నుంచి అతడు మరో 2 పొందాడు.\n"
            "అందువల్ల మొత్తం మీద అతడి వద్ద 7+2=9 బొమ్మలున్నాయి.\n"
            "సమాధానం 9.",
        ),
        (
            "మైకెల్ వద్ద 58 గోల్ఫ్ బాల్స్ ఉన్నాయి. మంగళవారం నాడు, అతడు 23 గోల్ఫ్ బాల్స్\u200cని పొగొట్టుకున్నాడు. "
            "బుధవారం నాడు, అతడు మరో 2 పోగొట్టుకున్నాడు. బుధవారం చివరికి అతడి వద్ద ఎన్ని గోల్ఫ్ బాల్\u200cలు "
            "ఉన్నాయి?",
            "మైకెల్ 58 గోల్ఫ్ బాల్స్\u200cతో ప్రారంభించాడు మరియు 23 పోగొట్టుకున్నాడు, అందువల్ల అతడి వద్ద 58-23=35 "
            "ఉన్నాయి.\n"
            "అతడు మరో 2 కోల్పోయిన తరువాత, అతడి వద్ద ఇప్పుడు 35-2=33 బాల్స్ ఉన్నాయి.\n"
            "సమాధానం 33.",
        ),
        (
            "ఒలీవియా వద్ద $23 ఉన్నాయి. ఆమె ఒక్కొక్కటి $3 విలువ చేసే ఐదు గాజులు కొనుగోలు చేసింది. ఆమె వద్ద ఎంత "
            "డబ్బు మిగిలి ఉంది?",
            "ఒక్కొక్కటి $3 చొప్పున 5 గాజుల ధర 5*3=15 డాలర్లు.\n"
            "ఒలీవియా వద్ద ప్రారంభంలో $23 ఉన్నాయి.\n"
            "అందువల్ల ఇప్పుడు ఆమె వద్ద 23-15=8 డాలర్లు మిగిలి ఉన్నాయి.\n"
            "సమాధానం 8.",
        ),
        (
            "జేసన్ వద్ద 20 లాలీపాప్\u200cలు ఉన్నాయి. అతడు డెన్నీకి కొన్ని లాలీపాప్\u200cలు ఇచ్చాడు. ఇప్పుడు జేసన్ "
            "వద్ద 12 లాలీపాప్\u200cలు ఉన్నాయి. డెన్నీకి జేసన్ ఎన్ని లాలీపాప్\u200cలు ఇచ్చాడు?",
            "జేసన్ 20 లాలీపాప్\u200cలతో ప్రారంభించాడు, కానీ ఇప్పుడు అతడి వద్ద 12 మాత్రమే ఉన్నాయి, అందువల్ల అతడు "
            "డెన్నీకి 20-12=8 లాలీపాప్\u200cలు ఉన్నాయి.\n"
            "సమాధానం 8.",
        ),
        (
            "పార్కింగ్ లాట్\u200cలో 3 కార్లు ఉండి, మరో 2 కార్లు వచ్చినట్లయితే, పార్కింగ్ లాట్\u200cలో ఎన్ని కార్లు "
            "ఉన్నాయి?",
            "ప్రారంభంలో 3 కార్లు ఉన్నాయి, మరో 2 కార్లు వచ్చాయి, అందువల్ల ఇప్పుడు 3+2=5 కార్లు ఉన్నాయి.\n"
            "సమాధానం 5.",
        ),
    ),

}
