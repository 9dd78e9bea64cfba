// The widget's own words, in every language it speaks, and how a language is chosen.
//
// Texts the server writes (error messages, CHAT_FAILED_REPLY_TEXT...) are in SERVER_LANG:
// the widget shows its own words for an error's code instead, and a failed reply's stored
// text only when the visitor reads SERVER_LANG too.

export const SERVER_LANG = 'en';

export const STRINGS = {
  en: {
    title: 'Chat with us',
    subtitle: 'Typically replies in seconds',
    open: 'Open chat',
    hide: 'Hide chat',
    close: 'Close chat',
    newConversation: 'New conversation',
    placeholder: 'Type your message…',
    inputLabel: 'Message',
    send: 'Send',
    retry: 'Retry',
    edit: 'Edit',
    counter: '{n} / {max}',
    overLimit: '{k} characters too many',
    overLimitOne: '1 character too many',
    typing: 'Assistant is typing…',
    unavailable: 'The assistant is unavailable right now. Please try again later.',
    notSent: 'Not sent.',
    rateLimited: 'You are sending messages too quickly. Please wait a moment.',
    tooManyPending: 'Please wait for the answer before sending more.',
    tooLong: 'This message is too long.',
    invalid: 'This message could not be sent.',
    failedReply: 'Reply failed',
    failedReplyFallback: 'Sorry, something went wrong. Please try again.',
    budgetExceeded: "Sorry, I can't answer right now.",
    empty: 'Hi there! How can we help you today?',
    log: 'Conversation',
    youSaid: 'You said:',
    assistantSaid: 'Assistant said:',
    staffSaid: 'Support agent said:',
    systemSaid: 'System message:',
    staff: 'Support agent',
    image: 'Image',
    poweredBy: 'Powered by Chatdesk',
    talkToPerson: 'Talk to a person',
    waitingForAgent: 'Waiting for an agent…',
    estimatedWait: 'Estimated wait: about {n} min.',
    estimatedWaitShort: 'Estimated wait: under a minute.',
    agentJoined: '{name} joined',
    agentLeft: '{name} left; the assistant is back',
    assistantBack: 'The assistant is back',
    noAgent: 'No one can pick up right now. Leave your email and we will answer you there; the answer will also be here when you come back.',
    outsideHours: 'Our team is not available at the moment. Leave your email and we will answer you there; the answer will also be here when you come back.',
    emailLabel: 'Your email',
    emailSend: 'Send',
    emailSaved: 'Thanks! We will write to {email}.',
    emailInvalid: 'Please enter a valid email address.',
    helpful: 'Helpful',
    notHelpful: 'Not helpful',
    commentLabel: 'Tell us more (optional)',
    commentSend: 'Send',
    thanksFeedback: 'Thanks for your feedback!',
    csatQuestion: 'This conversation is closed. How did we do?',
    csatUp: 'Good',
    csatDown: 'Bad',
    handoffFailed: 'Talking to a person is not available right now.',
  },
  'zh-Hans': {
    title: '在线客服',
    subtitle: '通常几秒内回复',
    open: '打开在线客服',
    hide: '收起在线客服',
    close: '关闭在线客服',
    newConversation: '新对话',
    placeholder: '请输入消息…',
    inputLabel: '消息',
    send: '发送',
    retry: '重试',
    edit: '编辑',
    counter: '{n} / {max}',
    overLimit: '超出 {k} 个字符',
    overLimitOne: '超出 1 个字符',
    typing: '助手正在输入…',
    unavailable: '助手暂时无法使用，请稍后再试。',
    notSent: '发送失败。',
    rateLimited: '发送太频繁，请稍候再试。',
    tooManyPending: '请等待回复后再发送。',
    tooLong: '消息过长。',
    invalid: '该消息无法发送。',
    failedReply: '回复失败',
    failedReplyFallback: '抱歉，出现了问题，请稍后重试。',
    budgetExceeded: '抱歉，暂时无法自动回复。',
    empty: '您好！有什么可以帮您？',
    log: '对话记录',
    youSaid: '你说：',
    assistantSaid: '助手说：',
    staffSaid: '人工客服说：',
    systemSaid: '系统消息：',
    staff: '人工客服',
    image: '图片',
    poweredBy: '由 Chatdesk 提供支持',
    talkToPerson: '转人工客服',
    waitingForAgent: '正在为您转接人工客服…',
    estimatedWait: '预计等待约 {n} 分钟。',
    estimatedWaitShort: '预计等待不到一分钟。',
    agentJoined: '{name} 已加入对话',
    agentLeft: '{name} 已离开，智能助手继续为您服务',
    assistantBack: '智能助手继续为您服务',
    noAgent: '暂时没有客服可以接待。请留下您的邮箱，我们会通过邮件回复您；您下次访问时也能在这里看到回复。',
    outsideHours: '现在不在客服工作时间。请留下您的邮箱，我们会通过邮件回复您；您下次访问时也能在这里看到回复。',
    emailLabel: '您的邮箱',
    emailSend: '提交',
    emailSaved: '谢谢！我们会回复到 {email}。',
    emailInvalid: '请输入有效的邮箱地址。',
    helpful: '有帮助',
    notHelpful: '没帮助',
    commentLabel: '补充说明（可选）',
    commentSend: '提交',
    thanksFeedback: '感谢您的反馈！',
    csatQuestion: '本次对话已结束。您对服务满意吗？',
    csatUp: '满意',
    csatDown: '不满意',
    handoffFailed: '暂时无法转接人工客服。',
  },
};

export function normLang(value) {
  const l = String(value || '').toLowerCase();
  if (l.startsWith('zh')) return 'zh-Hans';
  if (l.startsWith('en')) return 'en';
  return null;
}

// `explicit` is the data-lang attribute; `preferred` the browser's languages, best first.
export function pickLang(explicit, preferred) {
  if (explicit) return normLang(explicit) || 'en';
  for (const l of preferred || []) {
    const n = normLang(l);
    if (n) return n;
  }
  return 'en';
}

// T[key] with {name} placeholders filled; `key + 'One'` when it exists and vars.k is 1.
export function fmt(T, key, vars) {
  const template = vars && vars.k === 1 && T[key + 'One'] ? T[key + 'One'] : T[key];
  return template.replace(/\{(\w+)\}/g, (m, name) => (vars && name in vars ? String(vars[name]) : m));
}
