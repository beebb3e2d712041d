"""A shot's prompt as text: subject, position and motion first, then light, colour, camera and style,
in the series' prompt language."""

from dataclasses import dataclass

from assets_defs.models import Script
from assets_defs.style import StyleTemplate

# Where the subject sits, by shot size, and how it moves, by the scene's kind; (English, Chinese).
POSITION = {
    "wide": ("wide establishing shot, the whole scene in view, the subject small under a vast sky",
             "大远景，全景尽收眼底，主体在辽阔的天空下显得渺小"),
    "medium": ("medium shot, the subject in the centre third of the frame", "中景，主体位于画面中央三分之一"),
    "close": ("close-up, the subject's face, hands or the key detail filling the frame", "特写，主体的面部、双手或关键细节充满画面"),
}
SKY_POSITION = {  # a tonight's-sky scene shows the sky, not a character
    "wide": ("wide shot, the sky filling the upper two thirds, a dark horizon along the bottom",
             "远景，星空占据画面上方三分之二，下方是黑暗的地平线"),
    "medium": ("medium shot of the constellation's stars above the horizon", "中景，地平线上方的星座群星"),
    "close": ("close view of the constellation's brightest stars", "近景，星座中最亮的几颗星"),
}
ACTION = {
    "reveal": ("slowly emerging as the stars around it brighten", "在周围渐亮的星光中缓缓浮现"),
    "focus": ("gentle natural motion, cloth and hair stirring in the wind", "动作自然舒缓，衣袂与发丝随风轻动"),
    "tonight": ("stars wheeling slowly overhead", "群星在头顶缓缓转动"),
}


@dataclass(frozen=True)
class PromptParts:
    """A shot's prompt in parts; `render` orders them as Wan2.2's prompt guide recommends: subject,
    scene and motion first (what the model weighs most), then light, colour, camera and style."""

    subject: str
    details: tuple[str, ...]
    position: str
    action: str
    background: str
    lighting: str
    palette: str
    camera: str
    style: str
    language: str = "en"

    def render(self) -> str:
        if self.language == "zh":  # Chinese punctuation and labels: Wan's own prompt extender writes prompts this way
            details = "".join(f"，{d}" for d in self.details)
            return (f"{self.subject}{details}。{self.position}，{self.action}。背景：{self.background}。"
                    f"光线：{self.lighting}。色调：{self.palette}。镜头：{self.camera}。风格：{self.style}。")
        details = "".join(f", {d}" for d in self.details)
        return (f"{self.subject}{details}. {self.position}, {self.action}. Background: {self.background}. "
                f"Lighting: {self.lighting}. Palette: {self.palette}. Camera: {self.camera}. Style: {self.style}.")


def prompt_parts(subject: str, framing: str, kind: str, script: Script, style: StyleTemplate,
                 details: list[str]) -> PromptParts:
    zh = style.language == "zh"
    words = style.words()
    position = (SKY_POSITION if kind == "tonight" else POSITION)[framing][zh]
    background = (f"{script.chinese}的群星闪耀的晴朗夜空" if zh else
                  f"a clear night sky where the stars of {script.latin} ({script.english}) shine")
    return PromptParts(
        subject=subject, details=tuple(details), position=position, action=ACTION.get(kind, ACTION["focus"])[zh],
        background=background, lighting=words["lighting"], palette=words["palette"], camera=words["camera"],
        style=f"{words['style']}{'，' if zh else ', '}{words['film']}", language=style.language,
    )
