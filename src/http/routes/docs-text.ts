/** The words of /docs in Chinese and English. Summaries not in ZH_SUMMARY show in English. */
export type Lang = 'zh' | 'en';

export const TEXT: Record<Lang, Record<string, string>> = {
  en: {
    title: 'API reference',
    intro: 'Parcel lockers of the Lishe community: units, compartments, parcels and notifications. Machine-readable:',
    errors: 'Every error has one shape:',
    times: 'Times are ISO 8601 with the community’s offset, e.g.',
    auth: 'auth',
    or: 'or',
    parameters: 'Parameters',
    required: 'required',
    exampleRequest: 'Example request',
    exampleResponse: 'Example response',
    responses: 'Responses',
  },
  zh: {
    title: '接口文档',
    intro: '里厍社区快递柜：柜机、格口、包裹与通知。机器可读版本：',
    errors: '所有错误的格式相同：',
    times: '时间均为带时区偏移的 ISO 8601 格式，例如',
    auth: '认证',
    or: '或',
    parameters: '参数',
    required: '必填',
    exampleRequest: '请求示例',
    exampleResponse: '响应示例',
    responses: '响应',
  },
};

export const TAGS: Record<string, Record<Lang, string>> = {
  health: { en: 'Health', zh: '健康检查 Health' },
  units: { en: 'Units', zh: '柜机 Units' },
  couriers: { en: 'Couriers', zh: '快递员 Couriers' },
  residents: { en: 'Residents', zh: '居民 Residents' },
  staff: { en: 'Staff', zh: '物业人员 Staff' },
  simulators: { en: 'Simulators', zh: '模拟器 Simulators' },
  other: { en: 'Other', zh: '其他 Other' },
};

export const ZH_SUMMARY: Record<string, string> = {
  'GET /healthz': '进程在运行',
  'GET /readyz': 'Redis 与 MQTT 均可连接',
  'GET /v1/units': '所有柜机及每个格口的实时状态',
  'GET /v1/units/{id}': '一台柜机及其格口',
  'GET /v1/units/{id}/events': '柜机事件日志，最新在前（只追加，保留来源编号）',
  'POST /v1/deposits': '投递包裹：预留最小的合适空格口并开门',
  'GET /v1/deposits/{id}': '投递进度（已预留 → 投递中 → 已存入，或已取消）',
  'POST /v1/returns': '取回您投递的逾期包裹：格口开门；空门关上即退回完成、格口释放',
  'POST /v1/pickups': '远程开门取件：取件码 + 手机号 + 柜机屏幕上的现场码',
  'POST /v1/resident/parcels': '我待取的包裹：手机号 + 我的任一取件码（不能只凭手机号）',
  'POST /v1/resident/parcels/{id}/extend': '延长取件期限一次，48 小时',
  'PUT /v1/resident/preferences': '设置偏好：低层格口、语言、是否同意投柜',
  'POST /v1/admin/couriers': '开设快递员账号并签发令牌（只显示一次，只存哈希）',
  'GET /v1/admin/couriers': '快递员账号列表',
  'DELETE /v1/admin/couriers/{id}': '吊销快递员令牌',
  'PUT /v1/admin/residents/{phone}/preferences': '在物业办公室为居民设置偏好（如书面同意或拒绝投柜）',
  'GET /v1/admin/parcels/{id}': '包裹详情（含完整手机号）',
  'POST /v1/units/{id}/commands': '向柜机发送指令（开门、显示、键盘、状态）并等待结果',
  'PUT /v1/units/{id}/service': '停用柜机（不再接收新包裹；待取包裹仍可取出）或恢复',
  'PUT /v1/units/{id}/compartments/{no}/service': '停用某个格口（如门坏了）或恢复',
  'DELETE /v1/units/{id}/keypad-lock': '解锁因多次输错取件码而锁定的键盘',
  'GET /v1/admin/notifications/failures': '最终发送失败的通知（保留，最新在前）',
  'GET /dev/sims/{unit}': '模拟柜机上人能看到的：屏幕、键盘、柜门',
  'POST /dev/sims/{unit}/actions': '在模拟柜机前扮演一个人的操作',
  'GET /dev/phones/{phone}/sms': '居民的手机：未配置短信服务时发给它的短信（最新在前）',
};
