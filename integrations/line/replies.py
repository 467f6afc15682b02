"""What the bot answers in the chat, per language (like ``notifications.messages``: plain templates, English as the
fallback). A contact linked to a student is answered in the student's language; an unlinked one in LANGUAGE_CODE."""

from __future__ import annotations

REPLIES: dict[str, dict[str, str]] = {
    "link_button": {
        "en": "Tap the button and log in to the school's site to link this LINE account.",
        "vi": "Nhấn nút và đăng nhập trang của trường để liên kết tài khoản LINE này.",
        "zh-hant": "請點選按鈕並登入學校網站，以綁定此 LINE 帳號。",
    },
    "link_label": {"en": "Link my account", "vi": "Liên kết", "zh-hant": "綁定帳號"},
    "link_unavailable": {
        "en": "Linking is not available right now. Please try again in a few minutes.",
        "vi": "Hiện chưa thể liên kết. Vui lòng thử lại sau vài phút.",
        "zh-hant": "目前無法綁定，請稍後再試。",
    },
    "linked_student": {
        "en": "Done: this LINE account is linked to {student}. Class links will come here.",
        "vi": "Xong: tài khoản LINE này đã liên kết với {student}. Đường dẫn lớp học sẽ được gửi tới đây.",
        "zh-hant": "完成：此 LINE 帳號已綁定 {student}，課程連結將傳送至此。",
    },
    "linked_guardian": {
        "en": "Done: this LINE account is linked as a parent or guardian of {student}.",
        "vi": "Xong: tài khoản LINE này đã liên kết với tư cách phụ huynh của {student}.",
        "zh-hant": "完成：此 LINE 帳號已綁定為 {student} 的家長。",
    },
    "already_linked": {
        "en": "This LINE account is already linked to {student}.",
        "vi": "Tài khoản LINE này đã được liên kết với {student}.",
        "zh-hant": "此 LINE 帳號已綁定 {student}。",
    },
    "linked_elsewhere": {
        "en": 'This LINE account is linked to someone else. Send "unlink" first, then link again.',
        "vi": 'Tài khoản LINE này đang liên kết với người khác. Hãy gửi "unlink" trước rồi liên kết lại.',
        "zh-hant": "此 LINE 帳號已綁定其他學生。請先傳送「unlink」解除綁定，再重新綁定。",
    },
    "wrong_code": {
        "en": "That code is not valid (wrong, already used or expired). Ask the school or your account page for a "
        "new one.",
        "vi": "Mã này không hợp lệ (sai, đã dùng hoặc hết hạn). Hãy lấy mã mới từ trường hoặc trang tài khoản.",
        "zh-hant": "此代碼無效（錯誤、已使用或已過期）。請向學校或在帳號頁面取得新代碼。",
    },
    "too_many_tries": {
        "en": "Too many wrong codes. Please wait an hour and try again.",
        "vi": "Nhập sai mã quá nhiều lần. Vui lòng đợi một giờ rồi thử lại.",
        "zh-hant": "錯誤次數過多，請一小時後再試。",
    },
    "link_failed": {
        "en": 'The link did not work (it may have expired after 10 minutes). Send "link" to start again.',
        "vi": 'Liên kết không thành công (có thể đã hết hạn sau 10 phút). Gửi "link" để thử lại.',
        "zh-hant": "綁定未成功（連結可能已超過 10 分鐘失效）。請傳送「link」重新開始。",
    },
    "unlinked": {
        "en": "This LINE account is no longer linked to {student}. Nothing more will be sent here.",
        "vi": "Tài khoản LINE này không còn liên kết với {student}. Sẽ không gửi thêm tin nhắn tới đây.",
        "zh-hant": "此 LINE 帳號已解除與 {student} 的綁定，之後不會再傳送訊息至此。",
    },
    "not_linked": {
        "en": "This LINE account is not linked to anyone.",
        "vi": "Tài khoản LINE này chưa liên kết với ai.",
        "zh-hant": "此 LINE 帳號尚未綁定任何人。",
    },
}


def reply_text(name: str, language: str, **context) -> str:
    by_language = REPLIES[name]
    return (by_language.get(language) or by_language["en"]).format(**context)
